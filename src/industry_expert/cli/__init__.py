"""The ``expert`` command: parse, call one library function, format.

A small package: ``parser`` (every command and flag), ``output`` (what is printed), and one module
per command family (``documents``, ``answers``, ``tuning``). Exit codes: 0 success; 1 ingest
finished but skipped some files (or nothing was found); 2 the user's input or settings are wrong;
3 something upstream failed (a model server, an embedding API). Errors are one line on stderr,
never a traceback (``errors.STATUS`` maps each error to its code).
"""

from __future__ import annotations

import os
import sys

from ..errors import ExpertError, exit_code
from ..hub import reporting
from .parser import build_parser
from .progress import progress

__all__ = ["build_parser", "main"]


def quiet_ml_libraries() -> None:
    """Keep library chatter out of the user's output: deprecation notes, transformers' weight-loading
    bar (our own progress says what is loading), bitsandbytes' note on an optional CPU inference
    kernel from the hub, which training does not use, and the HTTP clients' INFO lines."""
    import logging
    import warnings

    warnings.simplefilter("ignore", FutureWarning)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # a library that sets up logging at INFO on import would otherwise let these chatter
    for name in ("botocore", "boto3", "s3transfer", "urllib3", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # read by huggingface_hub and transformers when first imported (which may not happen at all)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_ml_libraries()
    try:
        with reporting(progress(bool(getattr(args, "json", False)))):
            return int(args.func(args))
    except ExpertError as exc:
        print(f"expert: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("expert: interrupted; re-run the same command to finish", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
