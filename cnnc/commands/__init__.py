"""The subcommands of ``cnnc``: each module registers its parser and runs with ``(args, out, err) -> int``."""
