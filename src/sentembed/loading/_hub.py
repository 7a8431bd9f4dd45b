"""Upload a model to a Hugging Face hub repository; shared by every model class."""

from __future__ import annotations

import logging
import tempfile
from typing import Any

logger = logging.getLogger(__name__)


class PushToHubMixin:
    """`push_to_hub` for a model class whose `save(folder, model_name=..., create_model_card=...,
    train_datasets=..., safe_serialization=...)` writes a complete model folder."""

    def hub_usage_example(self, repo_id: str) -> str:
        """Python lines that load the model from `repo_id` and use it, for a pull request's description.

        Args:
            repo_id: The hub repository, "user-or-organization/name".

        Returns:
            The lines, joined by newlines.
        """
        name = type(self).__name__
        return "\n".join(
            [
                f"from sentembed import {name}  # or: from sentence_transformers import {name}",
                "",
                f'model = {name}("{repo_id}")',
                'embeddings = model.encode(["The weather is lovely today.", "It is so sunny outside!"])',
                "similarities = model.similarity(embeddings, embeddings)",
            ]
        )

    def hub_commit_message(self) -> str:
        """The default commit message of `push_to_hub`.

        Returns:
            "Add new <class> model", naming the backend when it is not torch.
        """
        backend = getattr(self, "backend", "torch")
        suffix = "" if backend == "torch" else f" with an {backend} backend"
        return f"Add new {type(self).__name__} model{suffix}"

    def hub_pr_description(self, repo_id: str) -> str:
        """The description of a pull request that adds this model: its architecture and how to use it.

        Args:
            repo_id: The hub repository, "user-or-organization/name".

        Returns:
            The description, in Markdown.
        """
        return (
            f"Hello!\n\nThis pull request has been automatically generated to add {type(self).__name__} "
            f"compatibility.\n\n## Full Model Architecture:\n```\n{self}\n```\n\n"
            f"## Usage:\n```python\n{self.hub_usage_example(repo_id)}\n```\n"
        )

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        safe_serialization: bool = True,
        commit_message: str | None = None,
        local_model_path: str | None = None,
        exist_ok: bool = False,
        replace_model_card: bool = False,
        train_datasets: list[str] | None = None,
        revision: str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Upload the model (saved to a temporary folder, or the folder `local_model_path`) to a hub repository,
        creating the repository when it is missing; returns the commit URL, or the pull request's URL.

        Args:
            repo_id: "user-or-organization/name".
            token: a hub token (None: the one huggingface_hub finds).
            private: create the repository as private.
            safe_serialization: save the weights as safetensors (else pickled `.bin` files).
            commit_message: the commit's message (default: "Add new <class> model").
            local_model_path: upload this folder instead of saving the model.
            exist_ok: allow an existing repository (a pull request always allows it).
            replace_model_card: write our model card over a README.md the repository already has.
            train_datasets: dataset names for the model card.
            revision: the branch to push to, created when missing.
            create_pr: open a pull request (with a description of the model) instead of committing.

        Returns:
            The commit's URL, or the pull request's.

        Raises:
            OSError: The hub refuses the upload or cannot be reached (huggingface_hub's HTTP errors).
        """
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=exist_ok or create_pr).repo_id
        card_data = getattr(self, "model_card_data", None)
        if card_data is not None and hasattr(card_data, "set_model_id"):
            card_data.set_model_id(repo_id)
        if revision is not None:
            api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True)
        upload = {
            "repo_id": repo_id,
            "commit_message": commit_message or self.hub_commit_message(),
            "commit_description": self.hub_pr_description(repo_id) if create_pr else None,
            "create_pr": create_pr,
            "revision": revision,
        }
        if local_model_path:
            commit = api.upload_folder(folder_path=local_model_path, **upload)
        else:
            with tempfile.TemporaryDirectory() as folder:
                self.save(
                    folder,
                    model_name=repo_id,
                    create_model_card=replace_model_card or not has_readme(api, repo_id, revision),
                    train_datasets=train_datasets,
                    safe_serialization=safe_serialization,
                )
                commit = api.upload_folder(folder_path=folder, **upload)
        if create_pr:
            logger.info("A pull request has been created at %s", commit.pr_url)
            return commit.pr_url
        return commit.commit_url


def has_readme(api: Any, repo_id: str, revision: str | None) -> bool:
    """Whether the repository already has a README.md (its model card); True when that cannot be checked, so
    that an existing card is never overwritten unasked."""
    try:
        return api.file_exists(repo_id, "README.md", revision=revision)
    except Exception as error:  # offline, no access, a missing branch: keep whatever card is there
        logger.warning(
            "Could not check whether %s has a README.md (%s: %s); not writing a model card, to keep any existing one.",
            repo_id,
            type(error).__name__,
            error,
        )
        return True
