"""Sentence templates for synthetic content, rendered column-wise.

A template is a string with `{slot}` fields; `render` fills thousands of rows per
template with Arrow string kernels instead of Python formatting, which keeps the
generator near a million items per second. Only slots that carry no personal data
appear here (titles, skills, companies); personal data is added in separate
segments whose offsets are known exactly, so the ground-truth spans are exact.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from consentry.network.synthpii import join

_SLOT = re.compile(r"\{(\w+)\}")

BODY: dict[str, list[str]] = {
    "profile": [
        "{Title} at {company}. I focus on {skill} and {skill2}. ",
        "Experienced {title} with a background in {skill}. Currently with {company}. ",
        "{Title} | {skill} | {skill2} | Open to new opportunities. ",
        "I help teams at {company} deliver results through {skill}. Ten years as {a_title}. ",
    ],
    "post": [
        "Excited to share that I have started a new position as {title} at {company}! ",
        "Three lessons I learned about {skill} this year as {a_title}. First, start small. ",
        "We are hiring at {company}: if you know {skill} and want to grow as {a_title}, reach out. ",
        "Proud of what our team at {company} shipped this quarter. {Skill} really made the difference. ",
        "Hot take: every {title} should spend a week learning {skill}. ",
        "Just finished a certification in {skill}. Grateful to everyone at {company} who supported me. ",
    ],
    "article": [
        "Why {skill} matters for every {title}. Over the past decade the role of {a_title} has changed. "
        "At {company} we saw that teams who invest in {skill} and {skill2} ship faster. ",
        "A practical guide to {skill} for the modern {title}. In this article I share the framework "
        "we use at {company}, with examples from real projects. ",
    ],
    "comment": [
        "Great point! In my experience as {a_title}, {skill} is often underrated. ",
        "Congratulations, well deserved! ",
        "Thanks for sharing. We use a similar approach to {skill} at {company}. ",
        "I would add {skill2} to that list. ",
    ],
    "poll_response": [
        "Voted: {skill}. ",
        "My answer: {skill2}, because it matters most for {a_title}. ",
    ],
    "group_post": [
        "Members of this group: our next meetup is about {skill}. Everyone working as {a_title} is welcome. ",
        "Union update for colleagues at {company}: the negotiation on working hours continues. ",
        "Has anyone here moved from {title} into {skill2}? Looking for advice. ",
    ],
    "resume": [
        "RESUME. {Title}, {company}. Skills: {skill}, {skill2}. Led a team of eight and delivered "
        "three major projects on time. ",
        "Curriculum vitae. Experience: {title} at {company}. Core skills: {skill}; {skill2}. ",
    ],
    "ai_prompt": [
        "Rewrite my headline so it sounds like a senior {title} who knows {skill}. ",
        "Draft a post announcing that I joined {company} as {a_title}. ",
        "Suggest five interview questions about {skill} for {a_title} role. ",
    ],
    "feedback": [
        "The job recommendations keep suggesting {title} roles but I work in {skill2}. ",
        "Feedback: the new feed is slower than before. ",
    ],
    "message": [
        "Hi, thanks for connecting! Are you still looking for {a_title} role? ",
        "Hey, quick question about the {skill} project at {company}. ",
        "Good to meet you at the conference. Let's talk about {skill} next week. ",
    ],
    "inmail": [
        "Hello, I am a recruiter at {company}. Your profile as {a_title} caught my eye. ",
        "We have an opening for {a_title} with strong {skill}. Would you be open to a chat? ",
    ],
    "salary": [
        "Salary report: {title} at {company}, base compensation in the top quartile. ",
        "My current base salary as {a_title} is within the band for my level. ",
    ],
    "payment": [
        "Premium subscription renewal for the {title} career plan. ",
        "Payment for the recruiter seat at {company}. ",
    ],
    "credential": [
        "Identity verification submitted for the {title} badge. ",
        "Login recovery request for my account at {company}. ",
    ],
    "job_application": [
        "Application for {title} at {company}. I bring solid {skill} and {skill2}. ",
        "Cover letter: I am applying for the {title} position. My strongest skill is {skill}. ",
    ],
}

CLOSERS: list[str] = [
    "", "", "Thoughts? ", "#career #{tag} ", "Happy to help if anyone has questions. ",
    "More soon. ", "Onwards! ", "#hiring ",
]


def parse(template: str) -> list[tuple[bool, str]]:
    """Split into (is_slot, text) parts."""
    out: list[tuple[bool, str]] = []
    pos = 0
    for m in _SLOT.finditer(template):
        if m.start() > pos:
            out.append((False, template[pos : m.start()]))
        out.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        out.append((False, template[pos:]))
    return out


Slot = pa.Array | tuple[pa.Array, np.ndarray]


def _slot_rows(slot: Slot, rows: np.ndarray) -> pa.Array:
    if isinstance(slot, tuple):
        vocab, idx = slot
        return vocab.take(pa.array(idx[rows]))
    return slot.take(pa.array(rows))


def render(template_ids: np.ndarray, templates: list[str], slots: dict[str, Slot]) -> pa.Array:
    """Fill template `template_ids[i]` with row i of each slot, vectorised per template.

    A slot is a string array with one value per row, or (vocabulary, index per row), in
    which case strings are only materialised for the rows whose template uses the slot.
    """
    n = len(template_ids)
    if n == 0:
        return pa.array([], pa.string())
    order = np.argsort(template_ids, kind="stable")
    bounds = np.searchsorted(template_ids[order], np.arange(len(templates) + 1))
    pieces = []
    for t, template in enumerate(templates):
        lo, hi = bounds[t], bounds[t + 1]
        if hi == lo:
            continue
        rows = order[lo:hi]
        parts = [_slot_rows(slots[text], rows) if is_slot else text for is_slot, text in parse(template)]
        if not any(isinstance(p, pa.Array) for p in parts):
            pieces.append(pa.array([template] * int(hi - lo), pa.string()))
        else:
            pieces.append(join(*parts))
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return pa.concat_arrays(pieces).take(pa.array(inverse))
