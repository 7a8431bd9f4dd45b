"""Chat templates for a reranker's inputs: a (query, document) pair rendered as two messages with the roles
"query" and "document", and hand-written message lists rendered as they are."""

from __future__ import annotations

from typing import Any

PAIR_ROLES = ("query", "document")
# Texts rendered through the template once, to see whether it carries both pair roles.
PROBE_TEXTS = ("sentembed probe query text", "sentembed probe document text")


def is_message_list(item: Any) -> bool:
    """A conversation: a non-empty list or tuple of dicts that each name a "role"."""
    return (
        isinstance(item, (list, tuple))
        and len(item) > 0
        and all(isinstance(message, dict) and "role" in message for message in item)
    )


def is_pair(item: Any) -> bool:
    """Two inputs read together (a list or tuple of two items that is not a conversation)."""
    return isinstance(item, (list, tuple)) and len(item) == 2 and not is_message_list(item)


class ChatFormatter:
    """Renders messages through a tokenizer's chat template.

    Args:
        tokenizer: a transformers tokenizer; its `chat_template` is read on every call, so replacing it takes
            effect at once.
        template_kwargs: keywords for `apply_chat_template` (such as {"chat_template": "reranker"}, which picks a
            named template out of a dict of them).
    """

    def __init__(self, tokenizer: Any, template_kwargs: dict[str, Any] | None = None) -> None:
        self.tokenizer = tokenizer
        self.template_kwargs = dict(template_kwargs or {})

    @property
    def has_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def structured(self) -> bool:
        """Whether messages carry typed content ([{"type": "text", "text": ...}]), as a processor's named
        templates (a dict of them) expect; otherwise the content is the text itself."""
        return isinstance(getattr(self.tokenizer, "chat_template", None), dict)

    def content(self, text: Any) -> Any:
        return [{"type": "text", "text": text}] if self.structured and isinstance(text, str) else text

    def pair_messages(self, first: Any, second: Any) -> list[dict[str, Any]]:
        """The pair as the conversation a reranker's template reads: a "query" and a "document" message."""
        return [
            {"role": PAIR_ROLES[0], "content": self.content(first)},
            {"role": PAIR_ROLES[1], "content": self.content(second)},
        ]

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The conversation as the template writes it (a string, not yet tokenized)."""
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, **self.template_kwargs)

    def pair_roles_failure(self) -> str | None:
        """None when pairs can go through the template (there is none, or it renders both roles' content);
        else the error message saying which role it drops and how to fix it."""
        if not self.has_template:
            return None
        rendered = self.render(self.pair_messages(*PROBE_TEXTS))
        dropped = [role for role, text in zip(PAIR_ROLES, PROBE_TEXTS, strict=True) if text not in rendered]
        if not dropped:
            return None
        field = "content[0].text" if self.structured else "content"
        example = " ".join(
            f'<{role.title()}>: {{{{ (messages | selectattr("role", "eq", "{role}") | first).{field} }}}}'
            for role in PAIR_ROLES
        )
        return (
            f"The chat template cannot carry a 'query'/'document' pair: rendering a pair as messages with those "
            f"roles drops the {' and '.join(dropped)} text, so the model would score an input without it. Give the "
            f"tokenizer a template that renders both roles, e.g. model.processor.chat_template = '{example}' "
            "(or pick a named one with processing_kwargs={'chat_template': {'chat_template': NAME}})"
        )

    def check_pairs_fit(self) -> None:
        """ValueError when the template drops a pair role (see `pair_roles_failure`)."""
        failure = self.pair_roles_failure()
        if failure is not None:
            raise ValueError(failure)
