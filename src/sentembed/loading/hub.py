"""Upload a saved model to a Hugging Face hub repository; shared by every model class."""

from __future__ import annotations

import tempfile
from collections.abc import Callable


def push_saved_model(
    save: Callable[[str], None],
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Add new sentembed model",
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Call `save(folder)` on a temporary folder, upload that folder to `repo_id`; return the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        save(folder)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message,
            revision=revision,
            create_pr=create_pr,
        )
    return str(commit)


class PushToHubMixin:
    """`push_to_hub` for a model class whose `save(folder, model_name=...)` writes a complete model folder."""

    hub_commit_message = "Add new sentembed model"

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Save the model to a temporary folder and upload it to a hub repository; returns the commit URL."""
        return push_saved_model(
            lambda folder: self.save(folder, model_name=repo_id),
            repo_id,
            token=token,
            private=private,
            commit_message=commit_message or self.hub_commit_message,
            revision=revision,
            create_pr=create_pr,
        )
