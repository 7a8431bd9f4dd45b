"""The model card (README.md) written beside every saved model, for both model kinds, from the model's card data
(`loading._card_data`): YAML front matter, then the model's details and architecture, a usage snippet,
evaluation results, how it was trained (datasets with statistics and samples, losses, hyperparameters, logs),
the library versions and citations. Sections without content are left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sentembed.loading._card_data import HUB, BaseModelCardData
from sentembed.loading._card_stats import STATS_ROWS, markdown_table

MODEL_TYPES = {"SentenceTransformer": "Sentence Transformer (bi-encoder)", "CrossEncoder": "Cross Encoder"}
LOG_KEYS = ("epoch", "step")


def joined(items: list[str]) -> str:
    """a, b and c."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def dataset_link(entry: dict[str, Any]) -> str:
    name = entry.get("name") or entry.get("id") or "unnamed"
    return f"[{name}]({HUB}/datasets/{entry['id']})" if entry.get("id") else str(name)


def introduction(card: dict[str, Any], data: BaseModelCardData) -> str:
    what = "sentence embedding" if data.model_class == "SentenceTransformer" else "cross-encoder"
    text = f"A {what} model in the [sentence-transformers](https://www.sbert.net) format, saved with sentembed"
    if card["base_model"]:
        text += f", fine-tuned from [{card['base_model']}]({HUB}/{card['base_model']})"
    named = [entry for entry in card["train_datasets"] if entry.get("name") or entry.get("id")]
    if named:
        text += " on " + joined([dataset_link(entry) for entry in named])
    text += "."
    if data.model_class == "SentenceTransformer" and card["model_facts"]:
        dimension = card["model_facts"]["Output Dimensionality"].split()[0]
        text += f" It maps inputs to a {dimension}-dimensional dense vector space"
    elif data.model_class == "CrossEncoder":
        text += " It reads two texts together and scores how well they match"
    if card["task_name"]:
        text += f", for {card['task_name']}"
    return text + "." if not text.endswith(".") else text


def details(card: dict[str, Any], data: BaseModelCardData) -> str:
    lines = [f"- **Model Type:** {MODEL_TYPES.get(data.model_class, data.model_class)}"]
    if card["base_model"]:
        revision = f" (revision {card['base_model_revision']})" if card["base_model_revision"] else ""
        lines.append(f"- **Base model:** [{card['base_model']}]({HUB}/{card['base_model']}){revision}")
    lines += [f"- **{name}:** {value}" for name, value in card["model_facts"].items()]
    datasets = [dataset_link(entry) for entry in card["train_datasets"] if entry.get("name") or entry.get("id")]
    if datasets:
        lines.append(f"- **Training Dataset{'s' if len(datasets) > 1 else ''}:** " + ", ".join(datasets))
    if card["language"]:
        lines.append("- **Language:** " + ", ".join(card["language"]))
    if card["license"]:
        lines.append(f"- **License:** {card['license']}")
    return "\n".join(lines)


def usage(card: dict[str, Any]) -> str:
    return (
        "Install sentembed (the snippet runs unchanged with sentence-transformers):\n\n"
        "```bash\npip install -U sentembed\n```\n\n"
        f"Then load the model and run it:\n\n{card['usage_snippet']}"
    )


def evaluation(card: dict[str, Any]) -> str:
    parts = []
    for section in card["evaluations"]:
        lines = [f"#### {section['description']}", ""]
        if section["dataset_name"]:
            lines.append(f"* Dataset: `{section['dataset_name']}`")
        evaluated = f"* Evaluated with `{section['class_name']}`"
        lines.append(
            evaluated + (f" with these parameters:\n{section['config_code']}" if section["config_code"] else "")
        )
        parts.append("\n".join(lines) + "\n\n" + section["table"])
    return "\n\n".join(parts)


def dataset_section(entry: dict[str, Any], kind: str) -> str:
    lines = [f"#### {entry.get('name') or 'Unnamed Dataset'}", ""]
    if entry.get("name") or entry.get("id"):
        revision = entry.get("revision") if entry.get("id") else None
        at = f" at [{revision[:7]}]({HUB}/datasets/{entry['id']}/tree/{revision})" if revision else ""
        lines.append(f"* Dataset: {dataset_link(entry)}{at}")
    size = entry.get("size")
    lines.append(
        f"* Size: {size} {kind} samples" if size is not None else "* Size: streamed (unknown number of samples)"
    )
    if entry.get("columns"):
        lines.append(f"* Columns: {joined(entry['columns'])}")
    if entry.get("stats_table"):
        sampled = min(size, STATS_ROWS) if size is not None else STATS_ROWS
        lines.append(f"* Approximate statistics based on the first {sampled} samples:\n{entry['stats_table']}")
    if entry.get("examples_table"):
        lines.append(f"* Samples:\n{entry['examples_table']}")
    loss = entry.get("loss")
    if loss:
        config = f" with these parameters:\n{loss['config_code']}" if loss.get("config_code") else ""
        lines.append(f"* Loss: `{loss['fullname']}`{config}")
    return "\n".join(lines)


def datasets_section(entries: list[dict[str, Any]], kind: str) -> str:
    described = [entry for entry in entries if "loss" in entry or "size" in entry]
    if not described:
        return ""
    heading = f"### {kind.title()} Dataset{'s' if len(described) > 1 else ''}"
    return heading + "\n\n" + "\n\n".join(dataset_section(entry, kind) for entry in described)


def hyperparameters(card: dict[str, Any]) -> str:
    if not card["all_hyperparameters"]:
        return ""
    parts = ["### Training Hyperparameters"]
    if card["non_default_hyperparameters"]:
        items = "\n".join(f"- `{name}`: {value}" for name, value in card["non_default_hyperparameters"].items())
        parts.append(f"#### Non-Default Hyperparameters\n\n{items}")
    items = "\n".join(f"- `{name}`: {value}" for name, value in card["all_hyperparameters"].items())
    parts.append(f"#### All Hyperparameters\n\n<details><summary>Click to expand</summary>\n\n{items}\n\n</details>")
    return "\n\n".join(parts)


def log_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def epoch_cell(epoch: Any) -> str:
    return f"{epoch:.2f}".rstrip("0").rstrip(".") if isinstance(epoch, float) else log_cell(epoch)


def training_logs(card: dict[str, Any]) -> str:
    logs = card["training_logs"]
    if not logs:
        return ""
    metrics = list(dict.fromkeys(key for row in logs for key in row if key not in LOG_KEYS))
    rows = []
    for row in logs:
        cells = [epoch_cell(row.get("epoch")), log_cell(row.get("step")), *(log_cell(row.get(key)) for key in metrics)]
        if card["best_model_step"] is not None and row.get("step") == card["best_model_step"]:
            cells = [f"**{cell}**" for cell in cells]
        rows.append(cells)
    table = markdown_table(["Epoch", "Step", *metrics], rows)
    note = "\n\nThe bold row is the saved checkpoint." if card["best_model_step"] is not None else ""
    return f"### Training Logs\n\n{table}{note}"


def training_time(card: dict[str, Any]) -> str:
    seconds = card["training_seconds"]
    if seconds is None:
        return ""
    minutes, rest = divmod(seconds, 60)
    duration = f"{int(minutes)} min {rest:.0f} s" if minutes else f"{seconds:.1f} s"
    return f"### Training Time\n\n- Training: {duration}"


def versions(card: dict[str, Any]) -> str:
    return "### Framework Versions\n\n" + "\n".join(
        f"- {name}: {version}" for name, version in card["versions"].items()
    )


def citations(card: dict[str, Any]) -> str:
    entries = "\n\n".join(f"#### {name}\n\n```bibtex\n{text}\n```" for name, text in card["citations"].items())
    return f"## Citation\n\n### BibTeX\n\n{entries}"


def body(data: BaseModelCardData) -> str:
    card = data.to_dict()
    training = [
        datasets_section(card["train_datasets"], "training"),
        datasets_section(card["eval_datasets"], "evaluation"),
        hyperparameters(card),
        training_logs(card),
        training_time(card),
    ]
    parts = [
        f"# {card['model_name']}",
        introduction(card, data),
        "## Model Details",
        f"### Model Description\n\n{details(card, data)}",
        "### Model Sources\n\n- **sentembed:** [pypi.org/project/sentembed](https://pypi.org/project/sentembed/)\n"
        "- **Sentence Transformers documentation:** [sbert.net](https://www.sbert.net)",
    ]
    if card["model_string"]:
        parts.append(f"### Full Model Architecture\n\n```\n{card['model_string']}\n```")
    parts += ["## Usage", f"### Direct Usage\n\n{usage(card)}"]
    if card["evaluations"]:
        parts += ["## Evaluation", "### Metrics", evaluation(card)]
    if any(training):
        parts += ["## Training Details", *training]
    parts += [versions(card), citations(card)]
    return "\n\n".join(part for part in parts if part)


def generate_model_card(model: Any) -> str:
    """The README.md text for `model` from its `model_card_data`.

    Args:
        model: A SentenceTransformer or CrossEncoder.

    Returns:
        The model card: YAML front matter, then Markdown.
    """
    data: BaseModelCardData = model.model_card_data
    if data.model is None:
        data.register_model(model)
    text = f"---\n{data.to_yaml()}\n---\n\n{body(data)}\n"
    if data.hub_model_id():
        text = text.replace('src="assets/', f'src="{data._asset_path_to_url("assets/")}')
    return re.sub(r"\n{3,}", "\n\n", text)


def write_model_card(
    model: Any, folder: str | Path, model_name: str | None = None, train_datasets: list[str] | None = None
) -> None:
    """Write `folder/README.md` for `model`: the README it was loaded with when its card data is unchanged
    since, else a card generated from the card data (example media go to `folder/assets`).

    Args:
        model: A SentenceTransformer or CrossEncoder with `model_card_data`.
        folder: The saved model's folder.
        model_name: The model's Hub id, used in the card when its data names none.
        train_datasets: Hub ids of datasets it was trained on, kept when its data names none.
    """
    data: BaseModelCardData = model.model_card_data
    folder = Path(folder)
    kept = data.unchanged_card_text(model_name)
    if kept is not None:
        (folder / "README.md").write_text(kept, encoding="utf-8")
        return
    if model_name and not data.model_id:
        data.model_id = model_name
    if train_datasets and not data.train_datasets:
        data.train_datasets = [{"name": name, "id": name} for name in train_datasets]
    data.save_dir = str(folder)
    (folder / "README.md").write_text(generate_model_card(model), encoding="utf-8")
