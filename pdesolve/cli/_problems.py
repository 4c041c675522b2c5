"""``pdesolve problems``: the registered problems (the one registry of :mod:`pdesolve.problems`)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "problems",
        help="list the registered problems: reference solves, dataset recipes, neural and constraint benchmarks",
        description=(
            "List every problem of the registry (pdesolve.problems) with its kind and description. "
            "Reference problems go to `pdesolve solve`, recipes to `pdesolve generate`; the benchmark "
            "problems are read by the experiments and `pdesolve solve --method ...`."
        ),
    )
    p.add_argument("--kind", default=None, help="only problems of this kind (e.g. recipe)")
    p.add_argument("--json", action="store_true", help="print [{\"name\", \"kind\", \"description\"}] as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import problems
    from .._errors import InvalidInputError
    from ._main import emit_json

    rows = [{"name": name, "kind": type(problem).label, "description": problem.description}
            for name, problem in problems.registry().items()]
    kinds = sorted({row["kind"] for row in rows})
    if args.kind is not None:
        if args.kind not in kinds:
            raise InvalidInputError(f"unknown kind {args.kind!r}; choose from {', '.join(kinds)}")
        rows = [row for row in rows if row["kind"] == args.kind]
    if args.json:
        emit_json(rows)
        return 0
    name_width = max(len(row["name"]) for row in rows)
    kind_width = max(len(row["kind"]) for row in rows)
    for row in sorted(rows, key=lambda r: (r["kind"], r["name"])):
        print(f"{row['name']:<{name_width}}  {row['kind']:<{kind_width}}  {row['description']}")
    return 0
