"""Rationale generation with HF `generate`: two phases, parsing and the correctness filter (paper §3.1)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mold.config import GenerationSpec
from mold.console import progress
from mold.data.schema import Example, RationaleRecord
from mold.molsaki.targets import attention_text
from mold.teacher.parse import Dropped, bound_keywords, check_hinted_reply, check_reply
from mold.teacher.prompts import Exemplar, PromptFormat, render_prompt

# Raw few-shot text: the reply ends where the model starts the next exemplar. Chat: at the end-of-turn token.
STOP_STRINGS = {"raw": ["\nQ:"], "chat": []}


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding in left-padded generation)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def generate_replies(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
                     max_new_tokens: int, batch_size: int, description: str, prompt_format: PromptFormat = "raw") -> list[str]:
    """Greedy continuations of `prompts`, batched by similar length, in input order. Chat prompts already
    hold the template's special tokens, so none are added."""
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    replies: list[str] = [""] * len(prompts)
    model.eval()
    with progress(description, total=len(prompts)) as advance:
        for chunk in length_sorted_batches([len(p) for p in prompts], batch_size):
            enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                            add_special_tokens=prompt_format == "raw").to(device)
            stops = {"stop_strings": STOP_STRINGS[prompt_format], "tokenizer": tokenizer} if STOP_STRINGS[prompt_format] else {}
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **stops)
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for i, text in zip(chunk, texts):
                replies[i] = text
            advance(len(chunk))
    return replies


@dataclass
class TeacherOutcome:
    kept: list[RationaleRecord] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # every dropped reply, with its reason
    keywords_removed: Counter[str] = field(default_factory=Counter)  # keywords cut from kept or dropped replies, by reason

    def summary(self, total: int) -> dict:
        phases = Counter(r.phase for r in self.kept)
        reasons = Counter(d["reason"] for d in self.dropped if d["final"])
        phase1 = Counter(d["reason"] for d in self.dropped if d["phase"] == 1)
        return {"total": total, "kept": len(self.kept), "kept_phase1": phases[1], "kept_phase2": phases[2],
                "dropped": sum(reasons.values()), "dropped_by_reason": dict(reasons), "phase1_failures_by_reason": dict(phase1),
                "keywords_removed": dict(self.keywords_removed)}


def _record(example: Example, parsed, phase: int, source: str, with_keywords: bool) -> RationaleRecord:
    """`keywords` None means numbers are the critical words; a choice task keeps its list even when empty."""
    return RationaleRecord(id=example.id, question=example.question, answer=example.answer, rationale=parsed.rationale,
                           keywords=list(parsed.keywords) if with_keywords else None, phase=phase, source=source)


def run_teacher(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: list[Example], exemplars: list[Exemplar],
                answer_kind: str, spec: GenerationSpec, source: str, tolerance: float = 1e-4,
                prompt_format: PromptFormat = "raw") -> TeacherOutcome:
    """Phase 1: plain prompt. Phase 2 (paper §3.1): the failures again, with the gold answer as a hint;
    a hinted reply that only restates the hint or says it was given the answer is not a rationale."""
    want_keywords = answer_kind == "choice"
    outcome = TeacherOutcome()
    pending = examples
    phases = (1, 2) if spec.second_phase else (1,)
    for phase in phases:
        prompts = [render_prompt(prompt_format, tokenizer, e.question, exemplars, answer_kind,
                                 hint=e.answer if phase == 2 else None, num_keywords=spec.num_keywords) for e in pending]
        replies = generate_replies(model, tokenizer, prompts, spec.max_new_tokens, spec.batch_size, f"teacher phase {phase}",
                                   prompt_format)
        failed = []
        for example, reply in zip(pending, replies):
            check = check_hinted_reply if phase == 2 else check_reply
            result = check(reply, example.answer, answer_kind, want_keywords, tolerance)
            if want_keywords and not isinstance(result, Dropped):
                x = attention_text(example.model_copy(update={"rationale": result.rationale}))
                result, removed = bound_keywords(result, x, spec.num_keywords, spec.too_few_keywords == "drop")
                outcome.keywords_removed.update(removed)
            if isinstance(result, Dropped):
                failed.append(example)
                outcome.dropped.append({"id": example.id, "phase": phase, "reason": result.reason, "detail": result.detail,
                                        "reply": reply, "final": phase == phases[-1]})
            else:
                outcome.kept.append(_record(example, result, phase, source, want_keywords))
        pending = failed
    order = {e.id: i for i, e in enumerate(examples)}
    outcome.kept.sort(key=lambda r: order[r.id])
    return outcome
