"""push_to_hub's arguments as the reference takes them, with huggingface_hub's HfApi recorded (no network):
repository creation, branches, pull requests and their description, the model card kept or replaced, a
local folder uploaded as it is, and the weights' format."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import CommitInfo, HfApi, RepoUrl

from sentembed import CrossEncoder, SentenceTransformer
from tests.support.paths import CROSS_ENCODER, MINILM_L3


@pytest.fixture()
def hub(monkeypatch):
    """HfApi with its network calls replaced: records every call, and what each uploaded folder held."""
    calls: dict = {"create_repo": [], "create_branch": [], "upload_folder": [], "readme_exists": False}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"].append({"repo_id": repo_id, **kwargs})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_branch(self, repo_id, branch, **kwargs):
        calls["create_branch"].append((repo_id, branch))

    def file_exists(self, repo_id, filename, **kwargs):
        return calls["readme_exists"]

    def upload_folder(self, folder_path, **kwargs):
        files = sorted(str(path.relative_to(folder_path)) for path in Path(folder_path).rglob("*") if path.is_file())
        calls["upload_folder"].append({"files": files, **kwargs})
        suffix = "commit/abc" if kwargs.get("revision") is None else "commit/def"
        info = {
            "commit_url": f"https://huggingface.co/{kwargs['repo_id']}/{suffix}",
            "commit_message": kwargs["commit_message"],
            "commit_description": kwargs.get("commit_description") or "",
            "oid": "abc",
            "pr_url": f"https://huggingface.co/{kwargs['repo_id']}/discussions/7" if kwargs.get("create_pr") else None,
        }
        try:
            return CommitInfo(**info)
        except TypeError:  # newer huggingface_hub versions want the endpoint
            return CommitInfo(**info, _endpoint=None)

    for name, function in [
        ("create_repo", create_repo),
        ("create_branch", create_branch),
        ("file_exists", file_exists),
        ("upload_folder", upload_folder),
    ]:
        monkeypatch.setattr(HfApi, name, function)
    return calls


def test_push_commits_a_saved_model_and_returns_the_commit_url(hub, minilm_l3):
    url = minilm_l3.push_to_hub("me/l3")
    assert url == "https://huggingface.co/me/l3/commit/abc"
    assert hub["create_repo"] == [{"repo_id": "me/l3", "private": None, "exist_ok": False}]
    upload = hub["upload_folder"][0]
    assert upload["commit_message"] == "Add new SentenceTransformer model"
    assert upload["commit_description"] is None and upload["create_pr"] is False
    assert {"modules.json", "model.safetensors", "README.md"} <= set(upload["files"])
    assert hub["create_branch"] == []


def test_push_to_a_branch_keeping_an_existing_card(hub, minilm_l3, monkeypatch):
    hub["readme_exists"] = True
    saves = []
    original_save = SentenceTransformer.save

    def recording_save(self, path, **kwargs):
        saves.append(kwargs)
        return original_save(self, path, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "save", recording_save)
    url = minilm_l3.push_to_hub(
        "me/l3", revision="dev", safe_serialization=False, exist_ok=True, train_datasets=["stsb"]
    )
    assert url == "https://huggingface.co/me/l3/commit/def"
    assert hub["create_branch"] == [("me/l3", "dev")]
    upload = hub["upload_folder"][0]
    assert upload["revision"] == "dev" and "README.md" not in upload["files"]
    assert saves[0] == {
        "model_name": "me/l3",
        "create_model_card": False,
        "train_datasets": ["stsb"],
        "safe_serialization": False,
    }
    minilm_l3.push_to_hub("me/l3", replace_model_card=True)
    assert "README.md" in hub["upload_folder"][1]["files"]


def test_a_pull_request_describes_the_model_and_returns_its_url(hub, minilm_l3):
    url = minilm_l3.push_to_hub("me/l3", create_pr=True, commit_message="Add the L3 model")
    assert url == "https://huggingface.co/me/l3/discussions/7"
    assert hub["create_repo"][0]["exist_ok"] is True  # a pull request goes to a repository that exists
    upload = hub["upload_folder"][0]
    assert upload["commit_message"] == "Add the L3 model"
    description = upload["commit_description"]
    assert "to add SentenceTransformer compatibility" in description
    assert "Full Model Architecture" in description and "(1): Pooling" in description
    assert 'model = SentenceTransformer("me/l3")' in description and "model.encode(" in description


def test_a_cross_encoder_pull_request_shows_predict_and_rank(hub):
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    model.push_to_hub("me/reranker", create_pr=True)
    description = hub["upload_folder"][0]["commit_description"]
    assert "to add CrossEncoder compatibility" in description
    assert "model.predict(" in description and "model.rank(" in description
    assert 'CrossEncoder("me/reranker")' in description
    assert hub["upload_folder"][0]["commit_message"] == "Add new CrossEncoder model"


def test_a_local_folder_is_uploaded_as_it_is(hub, tmp_path):
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    (tmp_path / "notes.txt").write_text("hand-made folder")
    model.push_to_hub("me/folder", local_model_path=str(tmp_path))
    assert hub["upload_folder"][0]["files"] == ["notes.txt"]
