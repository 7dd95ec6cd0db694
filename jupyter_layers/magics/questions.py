"""Let questions to our magics end with a question mark.

IPython reads a line ending in ``?`` as a help request (``%explore why is it NaN?`` would look up ``NaN``).
Input cleanup transforms run before that rule, so this one rewrites our own line magics that end in ``?`` into
the explicit call IPython would have produced, and the question reaches the magic intact.
"""

from __future__ import annotations

import re

OWN_MAGICS = ("layers", "explore", "escalate", "rewrite")
OWN_LINE_MAGIC = re.compile(rf"^(?P<indent>[ \t]*)%(?P<name>{'|'.join(OWN_MAGICS)})\b[ \t]*(?P<args>.*?)\s*$")


def keep_question_marks(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        match = OWN_LINE_MAGIC.match(line)
        if match and match["args"].endswith("?"):
            line = f"{match['indent']}get_ipython().run_line_magic({match['name']!r}, {match['args']!r})\n"
        out.append(line)
    return out


def register(shell) -> None:
    if keep_question_marks not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(keep_question_marks)
