"""``pdesolve datasets``: inspect and validate HDF5 dataset files."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "datasets",
        help="inspect and validate HDF5 dataset files (pdesolve or PDEBench)",
        description="Inspect HDF5 dataset files written by pdesolve or PDEBench.",
    )
    ds_sub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    info = ds_sub.add_parser(
        "info",
        help="print a file's layout (datasets, shapes, dtypes, attributes) and validate it",
        description=(
            "Print the layout of FILE and validate it (first and last samples are read; --deep reads all "
            "and checks they are finite). Exits 2 with a one-line reason on an invalid file."
        ),
    )
    info.add_argument("file", metavar="FILE")
    info.add_argument("--deep", action="store_true", help="read every sample and check it is finite")
    info.add_argument("--json", action="store_true", help="print the description as JSON")
    info.set_defaults(run=run_info)
    p.set_defaults(run=lambda args: (p.print_help(), 0)[1])


def _short(value, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_description(desc: dict) -> str:
    """The human-readable form of :func:`pdesolve.datasets.describe_file`'s result."""
    lines = [
        f"{desc['path']}: {desc['layout']}, {desc['num_samples']} samples of [t, *space, channel] = "
        f"{desc['sample_shape']} {desc['dtype']}, {desc['size_bytes'] / 2**20:.1f} MiB -- valid",
        "datasets:",
    ]
    width = max((len(d["name"]) for d in desc["datasets"]), default=4)
    for d in desc["datasets"]:
        if d.get("virtual_sources"):
            storage = f"virtual, {d['virtual_sources']} shard file(s)"
        else:
            storage = f"chunks {tuple(d['chunks'])}" if d["chunks"] else "contiguous"
        if d["compression"]:
            storage += f", {d['compression']}"
        lines.append(f"  {d['name']:<{width}}  {str(tuple(d['shape'])):<22} {d['dtype']:<8} {storage}")
    lines.append("coordinates:")
    for axis, c in desc["coordinates"].items():
        lines.append(f"  {axis}: {c['size']} points, {c['first']:.6g} .. {c['last']:.6g}")
    lines.append("attributes:")
    for key in sorted(desc["attrs"]):
        lines.append(f"  {key} = {_short(desc['attrs'][key])}")
    return "\n".join(lines)


def run_info(args) -> int:
    from ..datasets import describe_file
    from ._main import emit_json

    desc = describe_file(args.file, deep=args.deep)
    if args.json:
        emit_json(desc)
    else:
        print(format_description(desc))
    return 0
