"""Whether a model's answer is one: junk is named in one honest line instead of being shown as an answer.

A tiny model (the embedded SmolLM2-135M) often answers a long prompt by copying its sections back, or loops on one
sentence until its token limit; a weak local model can too. Junk here is what no real answer contains, judged
against the very request that was sent: the prompt's own scaffolding (section tags, cell headers, its fixed
sentences, the system prompt's sentences; not the user's code, which an answer may quote), one passage repeated
three or more times in a row, a tool call cut off half-way, or (explore, escalate) no words at all. Thresholds and
the real answers they were chosen from: tests/data/junk_corpus.json and docs/architecture.md.

``Screen`` watches an answer while it streams and holds back the part that may be turning into junk (a passage
that has begun to repeat, a line that may become a section tag), so no surface shows junk it cannot take back (a
terminal, the browser). ``judge`` is the verdict on a whole answer; ``unusable`` the error that replaces it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass

from ..errors import UnusableAnswer
from ..models.messages import Request, Text
from ..models.router import Route

SCREENED_LAYERS = ("edit", "explore", "escalate")  # completion is short and judged by whether it parses
REPEATS = 3  # a passage this many times in a row is a loop, not an answer ...
PERIOD_CHARS = 20  # ... if it has at least this many characters (shorter: `)` or `pass` lines are code)
LONG_PERIOD_WORDS = 12  # a passage this long is a loop once it starts a third time (half of it is enough)
BARE_SPAN_CHARS = 200  # a passage without letters (`0, 0, 0`, `|---|`) must repeat over this many characters
MAX_PERIOD_WORDS = 100  # the longest passage looked for: a paragraph
HOLD_WORDS = 6  # a passage that has repeated this many words in a row is held back until it breaks off
SAME_LINE_SHARE = 0.5  # one line that makes up half an answer's lines ...
SAME_LINE_TIMES = 4  # ... and occurs at least this often (not in a row): the answer is that line
NOUNS = {"complete": "completion", "edit": "rewriting code", "explore": "exploration", "escalate": "escalation"}

WORD = re.compile(r"\S+")
LETTERS = re.compile(r"[^\W\d_]{2}")
SECTION_TAG = re.compile(r"^<(/?)([a-z_]+)>$")
CELL_TAG = re.compile(r'<cell index="\d+">')
CELL_TAG_START, CELL_TAG_SHOWN = '<cell index="', '<cell index="N">'
MARKS = ("<SELECTION>", "</SELECTION>", "<CURSOR>")  # where the prompt marks the user's selection and cursor
CELL_HEADER = re.compile(r"^\s*# \[(?:cell \d+\] In \[[ \d]*\]|markdown cell \d+\]|output of cell \d+\])")
TEMPLATE_LINE = re.compile(  # the fixed lines of the prompt's sections (context/sections.py, prompts/*.py)
    r"^(?:Notebook\b.*: the other cells, in notebook order\.|Live variables in the kernel, most relevant first:"
    r"|No live kernel state is available.*|\(\d+ more (?:cells|variables) not shown\)|Imported: .+"
    r"|Instruction: .+|Question: .+)$"
)
SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n+")
SYSTEM_SENTENCE_WORDS = 9  # a system prompt sentence this long, word for word in an answer, is an echo
TOOL_CALL = re.compile(r'^\{\s*"(?:tool|answer)"\s*:')  # the embedded model's tool protocol, cut off


def normalise(text: str) -> str:
    return " ".join(text.split())


def short(text: str, chars: int = 48) -> str:
    text = normalise(text)
    return f'"{text}"' if len(text) <= chars else f'"{text[: chars - 1]}…"'


@dataclass(frozen=True)
class Scaffolding:
    """What the prompt added around the user's content, as sent in one request: no real answer contains it."""

    anywhere: tuple[str, ...]  # section tags and selection marks, found anywhere in an answer
    line_starts: tuple[str, ...]  # what a scaffolding line starts with: a line beginning so is held back
    template_lines: tuple[str, ...]  # the fixed lines the sections were built with
    cell_headers: bool  # the prompt shows cells under `# [cell N] In [M]` headers
    sentences: tuple[str, ...]  # the system prompt's sentences, whitespace normalised

    @classmethod
    def of(cls, request: Request) -> Scaffolding:
        user = "\n".join(b.text for m in request.messages if m.role == "user" for b in m.content if isinstance(b, Text))
        lines = [line.strip() for line in user.splitlines()]
        tags = {m[2] for line in lines if (m := SECTION_TAG.match(line))}
        closed = {m[2] for line in lines if (m := SECTION_TAG.match(line)) and m[1]}
        anywhere = [f"<{t}>" for t in sorted(tags & closed)] + [f"</{t}>" for t in sorted(tags & closed)]
        anywhere += [mark for mark in MARKS if mark in user]
        if CELL_TAG.search(user):
            anywhere.append(CELL_TAG_START)
        templates = tuple(dict.fromkeys(line for line in lines if TEMPLATE_LINE.match(line)))
        headers = any(CELL_HEADER.match(line) for line in lines)
        system = normalise(" ".join(b.text for b in request.system))
        sentences = tuple(s for s in SENTENCE_END.split(system) if len(s.split()) >= SYSTEM_SENTENCE_WORDS)
        starts = (*anywhere, *templates, *(("# [cell ", "# [markdown cell ", "# [output of cell ") if headers else ()))
        return cls(tuple(anywhere), starts, templates, headers, sentences)

    def echoed(self, line: str) -> str:
        """The scaffolding one line of an answer repeats ("" if none)."""
        for mark in self.anywhere:
            if mark in line:
                return f"the prompt's {CELL_TAG_SHOWN if mark == CELL_TAG_START else mark}"
        stripped = line.strip()
        if self.cell_headers and CELL_HEADER.match(stripped):
            return f"the prompt's cell header {short(stripped)}"
        for template in self.template_lines:
            if template in stripped:
                return f"the prompt's line {short(template)}"
        flat = normalise(line)
        for sentence in self.sentences:
            if sentence in flat:
                return f"the instructions it was given ({short(sentence)})"
        return ""

    def may_become(self, partial_line: str) -> bool:
        """Whether a line still being written may turn into scaffolding (so it is held back until it is whole)."""
        stripped = partial_line.lstrip()
        return bool(stripped) and any(s.startswith(stripped) or stripped.startswith(s) for s in self.line_starts)


class Repeats:
    """Finds one passage repeated over and over in a stream of words: for each period (in words), how many words in
    a row equal the word one period earlier. Three periods of a passage with letters and at least PERIOD_CHARS
    characters are a loop; a passage without letters (numbers, punctuation) must repeat over BARE_SPAN_CHARS."""

    def __init__(self):
        self.words: list[str] = []
        self.starts: list[int] = []  # where each word starts in the answer
        self.ends: list[int] = []
        self.opening: list[bool] = []  # whether each word begins a line or a sentence: where a passage is quoted from
        self.runs = [0] * (MAX_PERIOD_WORDS + 1)
        self.verdict = ""

    def add(self, word: str, start: int, end: int, new_line: bool) -> None:
        words, runs = self.words, self.runs
        self.opening.append(new_line or not words or words[-1][-1] in ".!?:")
        words.append(word)
        self.starts.append(start)
        self.ends.append(end)
        last = len(words) - 1
        for period in range(1, min(MAX_PERIOD_WORDS, last) + 1):
            runs[period] = runs[period] + 1 if words[last - period] == word else 0
            looped = runs[period] >= (REPEATS - 1) * period or (
                period >= LONG_PERIOD_WORDS and 2 * runs[period] >= (2 * REPEATS - 3) * period
            )
            if looped and not self.verdict:
                self.verdict = self.judge(period, last)

    def judge(self, period: int, last: int) -> str:
        first = last - self.runs[period] - period + 1  # where the passage is first said
        shift = next((k for k in range(period) if self.opening[first + k]), 0)  # quoted from a line or sentence start
        passage = " ".join(self.words[first + shift : first + shift + period])
        span = self.ends[last] - self.starts[last - self.runs[period] - period + 1]
        worded = LETTERS.search(passage) is not None
        if (worded and len(passage) >= PERIOD_CHARS) or (not worded and span >= BARE_SPAN_CHARS):
            return f"it repeated {short(passage)} over and over"
        return ""

    def held_from(self) -> int | None:
        """Where the passage that is repeating now begins (its repetition, not its first time), if one is."""
        last = len(self.words) - 1
        held = [last - run + 1 for period, run in enumerate(self.runs) if period and run >= min(period, HOLD_WORDS)]
        return self.starts[min(held)] if held else None


class Screen:
    """One answer as it streams: ``update`` says how much of it may be shown now, ``verdict`` why it is junk."""

    def __init__(self, request: Request):
        self.scaffolding = Scaffolding.of(request)
        self.layer = request.metadata.get("layer", "")
        self.tools = bool(request.tools)
        self.repeats = Repeats()
        self.words_to = 0  # the answer is read into words up to here
        self.lines_to = 0  # ... and into whole lines up to here
        self.verdict = ""

    def update(self, text: str) -> int:
        """Read the answer so far; returns how much of it may be shown now (the rest may be turning into junk)."""
        for match in WORD.finditer(text, self.words_to):
            if match.end() == len(text):  # the last word may go on
                break
            self.repeats.add(match[0], match.start(), match.end(), "\n" in text[self.words_to : match.start()])
            self.words_to = match.end()
        end = text.rfind("\n") + 1
        for line in text[self.lines_to : end].splitlines():
            self.verdict = self.verdict or self.echo(line)
        self.lines_to = max(self.lines_to, end)
        partial = text[self.lines_to :]
        self.verdict = self.verdict or self.echo(partial, whole=False) or self.repeats.verdict
        shown = self.words_to if text[-1:].strip() else len(text)  # a word still being written waits for its end
        held = self.repeats.held_from()
        if held is not None:
            shown = min(shown, held)
        if self.scaffolding.may_become(partial):
            shown = min(shown, self.lines_to)
        if self.tools and text.lstrip().startswith("{"):  # a tool call written out as text: judged when whole
            shown = 0
        return shown

    def echo(self, line: str, whole: bool = True) -> str:
        found = self.scaffolding.echoed(line) if whole else self.partial_echo(line)
        return f"it echoed {found}" if found else ""

    def partial_echo(self, line: str) -> str:
        """A line still being written already holds a section tag or mark (so it need not end first)."""
        return next((f"the prompt's {m}" for m in self.scaffolding.anywhere if m in line and m != CELL_TAG_START), "")

    def finish(self, text: str, final: bool = True) -> str:
        """The verdict on the whole answer ("" when it is one); ``final``: it is the layer's last word, not a turn
        that goes on with tool calls."""
        self.update(text + "\n")
        if self.verdict:
            return self.verdict
        if self.tools and TOOL_CALL.match(text.strip()):
            return "it broke off in the middle of a tool call"
        if final and self.layer in ("explore", "escalate") and not LETTERS.search(text):
            return f"it said nothing ({short(text, 20)})" if text.strip() else "it gave an empty answer"
        return same_line(text)


def same_line(text: str) -> str:
    """One line (not necessarily in a row) that makes up most of the answer."""
    lines = [normalise(line) for line in text.splitlines() if line.strip()]
    counted = Counter(line for line in lines if len(line) >= PERIOD_CHARS and LETTERS.search(line))
    if not counted:
        return ""
    line, times = counted.most_common(1)[0]
    if times >= SAME_LINE_TIMES and times >= SAME_LINE_SHARE * len(lines):
        return f"it repeated {short(line)} {times} times"
    return ""


def judge(answer: str, request: Request, final: bool = True) -> str:
    """Why ``answer`` (to ``request``) is junk, or "" when it is an answer."""
    return Screen(request).finish(answer, final)


def model_name(route: Route) -> str:
    """The embedded model as people name it: its file's name without the extension and quantisation."""
    name = os.path.basename(route.model).removesuffix(".gguf")
    return re.sub(r"[.-](?:[QqIi][Qq]?\d\w*|[Ff]16|[Bb][Ff]16|[Ff]32)$", "", name)


def unusable(route: Route, reason: str, noun: str = "") -> UnusableAnswer:
    """The one line that replaces junk: the model and the layer (or ``noun``, what it was doing) by name, and what
    to do instead."""
    noun = noun or NOUNS.get(route.layer, route.layer)
    if route.provider.name == "embedded":
        return UnusableAnswer(f"the embedded model ({model_name(route)}) is too small for {noun}: {reason}")
    return UnusableAnswer(
        f"{route.label} gave no usable answer for {noun}: {reason}",
        f"ask again, or give this layer a stronger model (c.JupyterLayers.{route.layer}_model)",
    )
