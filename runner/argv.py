"""Clara-compatible argument words, normalised before the CLI parser sees them.

Kept free of third-party imports: the entry point runs it before deciding to re-execute.
"""

from __future__ import annotations

import os

SET_FLAG = "--set"
# Commands whose results depend on str hashing order, so they run with PYTHONHASHSEED=0.
HASH_SEEDED_COMMANDS = frozenset({"train"})


def expand_set_words(argv: list[str]) -> list[str]:
    """``--set a=1 b=2 -c x`` -> ``--set a=1 --set b=2 -c x`` (Clara's --set takes many words).

    Also consumes ``--local_rank=N`` / ``--local-rank N`` from ``torch.distributed.launch`` (into
    ``LOCAL_RANK``) and ``--write_train_stats`` (train_stats.json is always written).
    """
    out: list[str] = []
    in_set = False
    skip_next = False
    for index, word in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if word == SET_FLAG:
            in_set = True
            continue
        if in_set and not word.startswith("-") and "=" in word:
            out += [SET_FLAG, word]
            continue
        in_set = False
        if word.startswith("--set="):
            out += [SET_FLAG, word.split("=", 1)[1]]
        elif word.startswith(("--local_rank", "--local-rank")):
            if "=" in word:
                os.environ.setdefault("LOCAL_RANK", word.split("=", 1)[1])
            elif index + 1 < len(argv):
                os.environ.setdefault("LOCAL_RANK", argv[index + 1])
                skip_next = True
        elif word != "--write_train_stats":
            out.append(word)
    return out


def needs_hash_seed(argv: list[str]) -> bool:
    """Whether this command must restart with PYTHONHASHSEED=0 first."""
    return bool(argv) and argv[0] in HASH_SEEDED_COMMANDS and os.environ.get("PYTHONHASHSEED") != "0"
