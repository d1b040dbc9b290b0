"""``python -m emulator``: run a Go binary and show what happens.

Every failure is one line on stderr and a distinct exit status (see
``emulator.exitcodes`` and ``loader.errors``); guest output already written
is never lost because it goes straight to our file descriptors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from emulator import exitcodes

_SIZE_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class UsageError(Exception):
    """A bad flag or argument: one line, exit 64."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2, which Go panics use
        raise UsageError(message)


def parse_size(text: str) -> int:
    """``512M``, ``4G``, ``1048576`` -> bytes."""
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = _SIZE_SUFFIXES.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in _SIZE_SUFFIXES else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 512M or 4G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return value


def _size_or_unlimited(text: str) -> int | None:
    """A size, or ``unlimited``/``none`` to switch the limit off."""
    return None if text.strip().lower() in ("unlimited", "none") else parse_size(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _env_pair(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m emulator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run a Go binary (a path, or a fixture name such as hello)",
        usage="python -m emulator run TARGET [options] [-- ARGS...]",
    )
    run.add_argument("target", help="path to a static x86-64 Linux ELF, or a fixture name")
    run.add_argument(
        "--env",
        action="append",
        type=_env_pair,
        default=None,
        metavar="KEY=VALUE",
        help="guest environment variable (repeatable; replaces the small default set)",
    )
    run.add_argument("--inherit-env", action="store_true", help="give the guest our whole environment")
    run.add_argument("--seed", type=int, default=0, help="seed for AT_RANDOM and getrandom (default 0)")
    run.add_argument("--cpus", type=_positive, default=1, help="CPUs the guest sees (default 1)")
    limits = run.add_argument_group("limits (see README: each has a default, a behaviour and a status)")
    limits.add_argument(
        "--memory-limit",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="committed guest memory before mmap and brk answer ENOMEM (default 4G)",
    )
    limits.add_argument(
        "--max-instructions",
        type=_positive,
        default=None,
        metavar="N",
        help=f"stop after about N guest instructions (exit {exitcodes.INSTRUCTION_BUDGET}; default none)",
    )
    limits.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=f"stop after this much host time (exit {exitcodes.TIMEOUT}; default none)",
    )
    limits.add_argument(
        "--max-threads",
        type=_positive,
        default=None,
        metavar="N",
        help="live guest threads (RLIMIT_NPROC) before clone answers EAGAIN (default 10000)",
    )
    limits.add_argument(
        "--max-fds",
        type=_positive,
        default=None,
        metavar="N",
        help="open file descriptors (RLIMIT_NOFILE) before EMFILE (default 1024 soft, 4096 hard)",
    )
    limits.add_argument(
        "--max-write-bytes",
        type=_size_or_unlimited,
        default=1 << 30,
        metavar="SIZE",
        help="bytes written to files and stdout/stderr before EFBIG and SIGXFSZ (default 1G)",
    )
    limits.add_argument(
        "--max-trace-bytes",
        type=_size_or_unlimited,
        default=1 << 30,
        metavar="SIZE",
        help="size of each trace output before it is cut with a marker; the run goes on (default 1G)",
    )
    run.add_argument("--stats", action="store_true", help="print a short summary on stderr at exit")
    run.add_argument(
        "--strace",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="print each syscall as strace does (to stderr, or to FILE)",
    )
    run.add_argument(
        "--no-vdso",
        dest="vdso",
        action="store_false",
        help="map no vDSO: the guest's clock_gettime calls become syscalls (and show in --strace)",
    )
    run.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="HOST:GUEST[:ro|rw]",
        help="show a host directory or file to the guest at GUEST (read-only unless :rw); repeatable",
    )
    run.add_argument(
        "--root", metavar="DIR", help="the guest's / is DIR, read-only (default: our cwd at its own path)"
    )
    run.add_argument(
        "--keep-tmp",
        action="store_true",
        help="keep the guest's private /tmp on the host; its path is printed at exit",
    )
    run.add_argument(
        "--calls",
        nargs="?",
        const="",
        default=None,
        metavar="PATTERNS",
        help="print the call path per thread at exit (stderr), syscalls at their depth and inlined "
        "frames from the pclntab: the bootstrap, inits, main and fmt/os down to write by default; "
        "PATTERNS is a comma-separated list of globs (runtime.main,main.*,fmt.*), or 'all'",
    )
    run.add_argument(
        "--events",
        metavar="FILE",
        default=None,
        help="write every event (syscalls, calls, goroutines, allocations, phases...) as JSON lines",
    )
    run.add_argument(
        "--timeline",
        metavar="FILE",
        default=None,
        help="write a Chrome trace-event JSON timeline for Perfetto (1 us shown = 1000 instructions)",
    )
    run.add_argument(
        "--mermaid",
        metavar="FILE",
        default=None,
        help="write a Markdown file with a Mermaid flowchart and sequence diagram of the bootstrap",
    )
    run.add_argument("--go", default=None, metavar="VERSION", help="toolchain for a fixture name")
    run.add_argument("--stripped", action="store_true", help="use the stripped build of a fixture")

    sub.add_parser(
        "fixtures", help="install the pinned Go toolchains and build the fixtures", add_help=False
    )  # its flags are emulator.toolchains'

    diff = sub.add_parser(
        "diff",
        help="compare the native run's strace with the emulator's, thread by thread",
        usage="python -m emulator diff TARGET [--native FILE] [--json] [options] [-- ARGS...]",
    )
    diff.add_argument("target", help="path to a static x86-64 Linux ELF, or a fixture name")
    diff.add_argument("--native", metavar="FILE", help="a recorded `strace -f -o FILE` log (or -ff set)")
    diff.add_argument("--json", action="store_true", help="print the report as JSON")
    diff.add_argument("--html", metavar="FILE", help="also write a side-by-side HTML page to FILE")
    diff.add_argument("--cpus", type=_positive, default=1, help="CPUs for both runs (default 1)")
    diff.add_argument("--keep-logs", metavar="DIR", help="write native.strace and emulator.strace there")
    diff.add_argument(
        "--without", action="append", default=[], metavar="RULE", help="switch a normalisation rule off"
    )
    diff.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="HOST:GUEST[:ro|rw]",
        help="for the emulated run: show a host path to the guest (as `run --mount`)",
    )
    diff.add_argument("--go", default=None, metavar="VERSION", help="toolchain for a fixture name")
    diff.add_argument("--stripped", action="store_true", help="use the stripped build of a fixture")

    explain = sub.add_parser(
        "explain",
        help="run a Go program once and report what happened under the hood, every figure measured",
        usage="python -m emulator explain TARGET [--format F] [--go V] [--stripped] [-- ARGS]",
    )
    explain.add_argument("target", help="path to a static x86-64 Linux ELF, or a fixture name")
    explain.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    explain.add_argument("--seed", type=int, default=0, help="seed for AT_RANDOM and getrandom (default 0)")
    explain.add_argument("--go", default=None, metavar="VERSION", help="toolchain for a fixture name")
    explain.add_argument("--stripped", action="store_true", help="use the stripped build of a fixture")

    disasm = sub.add_parser(
        "disasm",
        help="disassemble one Go function with symbols and source lines",
        usage="python -m emulator disasm TARGET SYMBOL [--go V] [--stripped]",
    )
    disasm.add_argument("target", help="path to a static x86-64 Linux ELF, or a fixture name")
    disasm.add_argument("symbol", help="function name, e.g. main.main or runtime.rt0_go (.abi0 optional)")
    disasm.add_argument("--go", default=None, metavar="VERSION", help="toolchain for a fixture name")
    disasm.add_argument("--stripped", action="store_true", help="use the stripped build of a fixture")

    matrix = sub.add_parser(
        "matrix",
        help="every Go toolchain against every fixture: native strace vs the emulator, and their drift",
        usage="python -m emulator matrix [--go V ...] [--fixture NAME ...] [-j N] [--format F] [--output F]",
    )
    if command == "matrix":  # its options live in emulator.matrix, which is imported only when used
        from emulator.matrix import add_arguments

        add_arguments(matrix)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fixtures"]:
        from emulator import toolchains

        return toolchains.main(argv[1:])
    # Everything after the first "--" belongs to the guest, flags included.
    guest_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, guest_args = argv[:cut], argv[cut + 1 :]
    try:
        ns = build_parser(argv[0] if argv else None).parse_args(argv)
        ns.args = guest_args
        commands = {"diff": _diff, "matrix": _matrix, "explain": _explain, "disasm": _disasm}
        return commands.get(ns.command, _run)(ns)
    except UsageError as e:
        print(f"emulator: {e}", file=sys.stderr)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        print("emulator: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except Exception as e:  # a bug of ours outside a run (the run reports its own)
        from emulator import bundle

        path = bundle.write_without_machine(e, [*argv, "--", *guest_args] if guest_args else argv)
        where = f"; reproducer bundle (with the Python traceback) in {path}" if path else ""
        print(
            f"emulator: internal error, a bug in the emulator: {type(e).__name__}: {e}{where}",
            file=sys.stderr,
        )
        return exitcodes.INTERNAL_ERROR


def _prepare(ns: argparse.Namespace):
    """The target's path, or (None, exit status) after printing why it cannot be used."""
    from emulator.api import resolve_target
    from loader import LoaderError, load_image

    try:
        path = resolve_target(ns.target, ns.go, ns.stripped)
        load_image(path)
    except LoaderError as e:
        print(f"emulator: {e.message}", file=sys.stderr)
        return None, e.exit_code
    except Exception as e:  # a fixture that could not be built
        print(
            f"emulator: cannot prepare {ns.target}: {str(e).splitlines()[0] if str(e) else e!r}",
            file=sys.stderr,
        )
        return None, exitcodes.USAGE
    return path, 0


def _explain(ns: argparse.Namespace) -> int:
    """``explain``: the report on stdout; the guest's own status is in it, not ours."""
    from emulator import explain

    path, status = _prepare(ns)
    if path is None:
        return status
    try:
        report = explain.explain(path, ns.target, ns.args, seed=ns.seed)
    except explain.NotAGoProgram as e:
        raise UsageError(str(e)) from None
    sys.stdout.write(explain.RENDERERS[ns.format](report))
    return 0


def _disasm(ns: argparse.Namespace) -> int:
    from emulator import disasm

    path, status = _prepare(ns)
    if path is None:
        return status
    binary = disasm.Binary(path)
    try:
        listing = disasm.disassemble(binary, ns.symbol)
    except disasm.UnknownFunction as e:
        hint = f"; did you mean {', '.join(e.close)}?" if e.close else ""
        raise UsageError(f"no function {e.name!r} in {ns.target}{hint}") from None
    sys.stdout.write(disasm.render(listing))
    return 0


def _run(ns: argparse.Namespace) -> int:
    from emulator.api import DEFAULT_ENV, filesystem, guest_environment, resolve_target
    from emulator.limits import LimitedText, Limits, describe_limit_hits
    from emulator.machine import ImageDoesNotFit, Machine, RunConfig
    from emulator.strace import StraceWriter
    from loader import LoaderError, load_image

    args = ns.args
    env = list(os.environ.items()) if ns.inherit_env else None
    guest_env = [f"{k}={v}" for k, v in env] if env is not None else list(ns.env or DEFAULT_ENV)
    try:
        fs = filesystem(ns.mount, ns.root, ns.keep_tmp)
    except ValueError as e:
        raise UsageError(str(e)) from e
    try:
        path = resolve_target(ns.target, ns.go, ns.stripped)
        image = load_image(path)
    except LoaderError as e:
        print(f"emulator: {e.message}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # a fixture that could not be built
        print(
            f"emulator: cannot prepare {ns.target}: {str(e).splitlines()[0] if str(e) else e!r}",
            file=sys.stderr,
        )
        return exitcodes.USAGE

    chosen = {
        "memory": ns.memory_limit,
        "instructions": ns.max_instructions,
        "timeout": ns.timeout,
        "threads": ns.max_threads,
        "fds": ns.max_fds,
    }
    limits = Limits(
        write_bytes=ns.max_write_bytes,
        trace_bytes=ns.max_trace_bytes,
        **{k: v for k, v in chosen.items() if v is not None},
    )
    observing = any(x is not None for x in (ns.calls, ns.events, ns.timeline, ns.mermaid))
    config = RunConfig(
        argv=[ns.target, *args],
        env=guest_environment(guest_env),
        seed=ns.seed,
        cpus=ns.cpus,
        limits=limits,
        record_syscalls=ns.strace is not None or observing,
        vdso=ns.vdso,
        filesystem=fs,
    )
    sinks = []
    trace_file = None
    trace_out = None
    if ns.strace is not None:
        try:
            trace_file = sys.stderr if ns.strace == "-" else open(ns.strace, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            print(f"emulator: cannot write the trace to {ns.strace}: {e.strerror}", file=sys.stderr)
            return exitcodes.USAGE
        trace_out = LimitedText(trace_file, limits.trace_bytes)
        sinks.append(StraceWriter(trace_out))
    outputs = _open_outputs(ns)
    if outputs is None:
        return exitcodes.USAGE
    events: list = []
    if observing:
        sinks.append(events.append)
    try:
        try:
            machine = Machine(image, config, sinks=sinks)
        except ImageDoesNotFit as e:
            print(f"emulator: {e}", file=sys.stderr)
            return exitcodes.USAGE
        if observing:
            from emulator.calls import observe, parse_patterns

            patterns = parse_patterns(ns.calls) if ns.calls is not None or ns.timeline or ns.mermaid else None
            observe(machine, patterns)
        try:
            outcome = machine.run()
        finally:
            machine.kernel.vfs.close()
    finally:
        if trace_file is not None and trace_file is not sys.stderr:
            trace_file.close()
    _write_pictures(ns, outputs, events, machine)
    if machine.kernel.vfs.kept_tmp:
        print(f"emulator: the guest's /tmp is kept at {machine.kernel.vfs.kept_tmp}", file=sys.stderr)
    if outcome.report:
        print(outcome.report, file=sys.stderr)
    hits = describe_limit_hits(machine.kernel.limit_hits, limits)
    if hits:
        print(hits, file=sys.stderr)
    if trace_out is not None and trace_out.truncated:
        print(
            f"emulator: limit reached: --max-trace-bytes {limits.trace_bytes}: the trace was cut short "
            f"after {trace_out.written} bytes; the run went on to its end",
            file=sys.stderr,
        )
    unimplemented = machine.kernel.unimplemented
    if unimplemented:
        listed = ", ".join(f"{name} ({n}x)" for name, n in sorted(unimplemented.items()))
        print(f"emulator: unimplemented syscalls answered ENOSYS: {listed}", file=sys.stderr)
    for line in refusal_lines(machine.kernel.refused):
        print(line, file=sys.stderr)
    if ns.stats:
        _print_stats(machine)
    return outcome.status


def _open_outputs(ns: argparse.Namespace) -> dict | None:
    """The files of --events, --timeline and --mermaid, opened before the run (a bad path fails first)."""
    outputs = {}
    for key in ("events", "timeline", "mermaid"):
        path = getattr(ns, key)
        if path is None:
            continue
        try:
            outputs[key] = open(path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            print(f"emulator: cannot write --{key} to {path}: {e.strerror}", file=sys.stderr)
            for f in outputs.values():
                f.close()
            return None
    return outputs


def _write_pictures(ns: argparse.Namespace, outputs: dict, events: list, machine) -> None:
    from emulator.events import ThreadEvent
    from emulator.limits import LimitedText

    try:
        if ns.calls is not None:
            from emulator.calls import format_calls

            print("\n".join(format_calls(events)), file=sys.stderr)
        if "events" in outputs:
            from emulator.eventlog import write_events

            write_events(events, LimitedText(outputs["events"], machine.config.limits.trace_bytes))
        if "timeline" in outputs:
            from emulator.timeline import build

            pid = next((e.tid for e in events if isinstance(e, ThreadEvent)), machine.current.tid)
            import json

            json.dump(build(events, pid, os.path.basename(machine.image.path)), outputs["timeline"])
        if "mermaid" in outputs:
            from emulator.mermaid import document

            outputs["mermaid"].write(document(events))
    finally:
        for f in outputs.values():
            f.close()


def refusal_lines(refused: dict[str, int]) -> list[str]:
    """One line per capability the program tried and we refused (new processes, sockets)."""
    from syscalls.kernel import REFUSED

    lines = []
    for what, names in REFUSED.items():
        listed = ", ".join(f"{name} {refused[name]}x" for name in sorted(refused) if name in names)
        if listed:
            lines.append(f"emulator: this program {what}; not supported yet ({listed} answered ENOSYS)")
    return lines


def _print_stats(machine) -> None:
    s = machine.stats
    top = sorted(s.by_syscall.items(), key=lambda kv: (-kv[1], kv[0]))[:6]
    lines = [
        f"instructions: {s.instructions}",
        f"blocks: {s.blocks}",
        f"threads: {s.threads}",
        f"syscalls: {s.syscalls} ({', '.join(f'{n} {c}' for n, c in top)})",
        f"memory: {s.committed_bytes // 1024} KiB committed in {s.regions} unicorn regions",
        f"emulation: {s.emulation_seconds:.3f} s",
    ]
    print("--- emulator stats ---", *lines, sep="\n", file=sys.stderr)


def _diff(ns: argparse.Namespace) -> int:
    """``diff``: exit 0 when nothing unexplained remains, 1 otherwise, 69 if strace cannot run."""
    import json
    from pathlib import Path

    from emulator import diff
    from emulator.api import DEFAULT_ENV, filesystem, resolve_target
    from emulator.normalize import DEFAULT_RULES
    from emulator.stracelog import ParseError
    from loader import LoaderError, load_image

    try:
        filesystem(ns.mount)  # a bad --mount is a usage error before anything runs
    except ValueError as e:
        raise UsageError(str(e)) from e
    unknown = set(ns.without) - DEFAULT_RULES
    if unknown:
        raise UsageError(f"unknown rule {sorted(unknown)[0]!r}; rules: {', '.join(sorted(DEFAULT_RULES))}")
    keep = Path(ns.keep_logs) if ns.keep_logs else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    try:
        path = resolve_target(ns.target, ns.go, ns.stripped).resolve()
    except (RuntimeError, ValueError, OSError) as e:  # a fixture that could not be built
        print(
            f"emulator: cannot prepare {ns.target}: {str(e).splitlines()[0] if str(e) else e!r}",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    try:
        load_image(path)  # the loader's own error and status for what we could not run anyway
        runs = {"env": DEFAULT_ENV, "cpus": ns.cpus}
        if ns.native:
            native = diff.load_native(ns.native)
        else:
            native = diff.record_native(path, ns.args, log_path=keep and keep / "native.strace", **runs)
        emulated = diff.record_emulated(
            path, ns.args, log_path=keep and keep / "emulator.strace", mounts=ns.mount, **runs
        )
    except LoaderError as e:
        print(f"emulator: {e.message}", file=sys.stderr)
        return e.exit_code
    except diff.NativeRunError as e:
        print(f"emulator: cannot trace the native run: {e}", file=sys.stderr)
        return 69  # EX_UNAVAILABLE
    except (ParseError, FileNotFoundError) as e:
        print(f"emulator: {e}", file=sys.stderr)
        return exitcodes.USAGE
    rules = DEFAULT_RULES - set(ns.without)
    report = diff.compare_runs(native, emulated, rules)
    if ns.html:
        Path(ns.html).write_text(diff.render_html(report), encoding="utf-8")
    if ns.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        sys.stdout.write(diff.render_text(report, color=sys.stdout.isatty()))
    return report.exit_code


def _matrix(ns: argparse.Namespace) -> int:
    """``matrix``: exit 0 when every cell (and golden trace) matches, 1 otherwise."""
    from emulator import matrix

    if ns.jobs < 1:
        raise UsageError(f"-j must be at least 1, not {ns.jobs}")
    return matrix.main(ns)
