"""The compatibility matrix: `measure` against eager ``output_attentions`` on every architecture transformers ships.

For each ``model_type`` in transformers' ``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` (plus the encoders and
encoder–decoders the course touches) this builds a tiny random-init model (`sinklab.random_models.tiny_config`,
fp32, eager attention), runs ``measure(model, batch, method="auto")`` on a left-padded batch and compares the
first-token mass with the eager attention weights. Each architecture ends in one status:

- ``exact``: max |Δ first-token mass| ≤ 1e-5 on every real query;
- ``refused``: `measure` raised a `SinklabError` (its first line is listed);
- ``not buildable``: the tiny config or model could not be built (no sinklab code ran);
- ``fp32-limited``: above 1e-5, but no further from float64 eager than fp32 eager itself is (large scores);
- ``no reference``: measured, but eager ``output_attentions`` returned no weights to compare with;
- ``MISMATCH`` / ``crash``: a wrong number or a raw exception — bugs; the test fails on them.

``python -m sinklab.measure.compatibility [--out docs/compatibility.md]`` writes the table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from sinklab.errors import SinklabError

TOLERANCE = 1e-5
EXTRA = ("bert", "bart", "t5")  # encoders / encoder-decoders the course touches (MiniLM is a BERT)
TIME_LIMIT = 180  # wall seconds per architecture (a shared CPU slows the hybrid Mamba models down)
MAX_PARAMETERS = 5_000_000  # a tiny config above this was not shrunk (unknown size keys): listed, not built
STATUSES = ("exact", "fp32-limited", "refused", "no reference", "not buildable", "MISMATCH", "crash")


@dataclass
class Row:
    model_type: str
    status: str
    method: str = ""
    max_error: float | None = None
    detail: str = ""
    seconds: float = 0.0


def architectures() -> list[str]:
    """Every causal-LM ``model_type`` transformers ships, then the extra encoders / encoder–decoders."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES) + [t for t in EXTRA if t not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES]


def batch(vocab: int, rows: int = 3, length: int = 10) -> dict:
    """A left-padded batch: row 1 has 3 pad tokens, row 2 has 1 (token ids from 1, so pad id 0 never occurs)."""
    ids = torch.randint(1, min(vocab, 90), (rows, length), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(rows, length, dtype=torch.long)
    mask[1, :3] = 0
    mask[2, :1] = 0
    return {"input_ids": ids, "attention_mask": mask}


def check(model_type: str) -> Row:
    """Build, measure and compare one architecture."""
    from sinklab.measure.api import measure
    from sinklab.random_models import random_model, tiny_config

    start = time.perf_counter()
    try:
        config = tiny_config(model_type)
        head = "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal_lm"
        if model_type == "bert":
            head = "base"
        size = _parameters_on_meta(model_type, config, head)
        if size > MAX_PARAMETERS:
            return Row(
                model_type,
                "not buildable",
                detail=f"the shrunk config still has {size / 1e6:.0f}M parameters",
                seconds=time.perf_counter() - start,
            )
        model = random_model(model_type, config=config, head=head, attn_implementation="eager")
        inputs = batch(config.get_text_config().vocab_size)
        if head == "seq2seq":
            inputs["decoder_input_ids"] = inputs["input_ids"]
        with torch.no_grad():
            reference = model(**inputs, output_attentions=True)
    except Exception as e:  # noqa: BLE001 - any failure to build is reported, not raised
        return Row(model_type, "not buildable", detail=_first_line(e), seconds=time.perf_counter() - start)
    try:
        report = measure(model, inputs, method="auto")
    except SinklabError as e:
        return Row(model_type, "refused", detail=_first_line(e), seconds=time.perf_counter() - start)
    except Exception as e:  # noqa: BLE001 - a raw exception is a bug the matrix must show
        return Row(
            model_type, "crash", detail=f"{type(e).__name__}: {_first_line(e)}", seconds=time.perf_counter() - start
        )
    attentions = getattr(reference, "attentions", None) or getattr(reference, "encoder_attentions", None)
    if not attentions or any(a is None for a in attentions):
        return Row(
            model_type,
            "no reference",
            report.method,
            detail="eager output_attentions returned no weights",
            seconds=time.perf_counter() - start,
        )
    if len(attentions) != report.first_mass.shape[1]:
        return Row(
            model_type,
            "MISMATCH",
            report.method,
            detail=f"{report.first_mass.shape[1]} layers measured, eager returned {len(attentions)}",
            seconds=time.perf_counter() - start,
        )
    error, note = _max_error(report, attentions, inputs["attention_mask"])
    if error is None:
        return Row(model_type, "MISMATCH", report.method, detail=note, seconds=time.perf_counter() - start)
    status = "exact" if error <= TOLERANCE else "MISMATCH"
    if error > TOLERANCE:  # is fp32 itself the limit (large scores)? Compare both with eager in float64.
        mask = inputs["attention_mask"]
        with torch.no_grad():
            reference64 = model.double()(**inputs, output_attentions=True)
        attentions64 = getattr(reference64, "attentions", None) or getattr(reference64, "encoder_attentions", None)
        ours, _ = _max_error(report, attentions64, mask, skip_nonfinite=True)
        eager = _eager_error(attentions, attentions64, mask)
        if ours is not None and ours <= max(eager, TOLERANCE):
            status = "fp32-limited"
            note = (
                f"fp32 eager vs float64 eager: {eager:.1e}; sinklab vs float64 eager: {ours:.1e} "
                "(large scores: fp32 rounding, not the method)" + (f"; {note}" if note else "")
            )
    return Row(model_type, status, report.method, error, detail=note, seconds=time.perf_counter() - start)


def _eager_error(attentions, attentions64, mask) -> float:
    """Max |Δ first-token mass| of fp32 eager against float64 eager (queries finite in both)."""
    from sinklab import metrics

    real, error = mask.bool()[:, None, :], 0.0
    for attn, attn64 in zip(attentions, attentions64):
        expected = metrics.first_token_mass(attn64.double(), mask)
        keep = real & torch.isfinite(expected)
        error = max(
            error, torch.where(keep, metrics.first_token_mass(attn.double(), mask) - expected, 0.0).abs().max().item()
        )
    return error


def _max_error(report, attentions, mask, skip_nonfinite: bool = False) -> tuple[float | None, str]:
    """Max |Δ first-token mass| over real queries, and a note; (None, why) when the shapes do not match.

    ``skip_nonfinite``: leave out queries whose reference is NaN (float64 eager's fully masked pad rows
    propagate NaN into later layers of that row)."""
    from sinklab import metrics

    note, error = "", 0.0
    real = mask.bool()[:, None, :]
    for layer, attn in enumerate(attentions):
        if attn.shape[1] != report.first_mass.shape[2]:
            return None, f"layer {layer}: {attn.shape[1]} heads in eager, {report.first_mass.shape[2]} measured"
        attn = attn.double()
        expected = metrics.first_token_mass(attn, mask)
        sinks = report.learned_sink_mass
        if sinks is not None and ((attn.sum(-1) - 1).abs() * real).max() < 1e-4:
            # eager normalises over the tokens only and scales the output by the sink instead
            expected = expected * (1 - sinks[:, layer].double())
            note = "eager weights exclude the learned sink: compared as weights × (1 − sink mass)"
        keep = real & torch.isfinite(expected) if skip_nonfinite else real
        difference = torch.where(keep, report.first_mass[:, layer].double() - expected, 0.0).abs().max().item()
        error = max(error, difference if difference == difference else float("inf"))  # NaN counts as a mismatch
    return error, note


def run(model_types=None, progress: bool = True) -> list[Row]:
    from tqdm.auto import tqdm

    rows = []
    for model_type in tqdm(model_types or architectures(), desc="compatibility", disable=not progress):
        rows.append(_with_time_limit(check, model_type))
    return rows


def _with_time_limit(function, model_type: str) -> Row:
    """``function(model_type)``, or a "crash" row after TIME_LIMIT seconds (POSIX alarm; no limit elsewhere)."""
    import signal

    if not hasattr(signal, "SIGALRM"):
        return function(model_type)

    def expire(signum, frame):
        raise TimeoutError(f"took over {TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIME_LIMIT)
    try:
        return function(model_type)
    except TimeoutError as e:
        return Row(model_type, "crash", detail=str(e), seconds=TIME_LIMIT)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def table(rows: list[Row], versions: str) -> str:
    """The markdown page: a summary line per status, then one row per architecture."""
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    lines = [
        "# Compatibility of `sinklab.measure` with transformers' architectures",
        "",
        "Generated by `python -m sinklab.measure.compatibility --out docs/compatibility.md` "
        "(kept current by `tests/unit/core/test_compatibility.py`).",
        f"Tiny random-init model of every `MODEL_FOR_CAUSAL_LM_MAPPING` architecture plus {', '.join(EXTRA)}; "
        f'{versions}; fp32, a left-padded batch of 3 × 10 tokens; `measure(method="auto")` against eager '
        f"`output_attentions`: max |Δ first-token mass| over real queries ≤ {TOLERANCE:g} is `exact`.",
        "",
        "Summary: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) + f" (of {len(rows)}).",
        "",
        "| architecture | status | method | max error | detail |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        error = "" if r.max_error is None else f"{r.max_error:.1e}"
        detail = r.detail.replace("|", "\\|")[:200].rstrip()
        lines.append(f"| {r.model_type} | {r.status} | {r.method} | {error} | {detail} |")
    return "\n".join(lines) + "\n"


def read_table(path) -> list[Row]:
    """The rows of a table written by `table` (for --update)."""
    from pathlib import Path

    rows = []
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 5 and cells[1] in STATUSES:
            error = float(cells[3]) if cells[3] else None
            rows.append(Row(cells[0], cells[1], cells[2], error, "|".join(cells[4:]).replace("\\", "")))
    return rows


def versions() -> str:
    import transformers

    return f"transformers {transformers.__version__}, torch {torch.__version__.split('+')[0]}"


def _parameters_on_meta(model_type: str, config, head: str) -> int:
    """Parameter count of the model built on the meta device (no memory, no time)."""
    from sinklab.random_models import random_model

    return sum(p.numel() for p in random_model(model_type, config=config, head=head, device="meta").parameters())


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the markdown table here (default: print it)")
    parser.add_argument("--only", nargs="+", help="some model types only")
    parser.add_argument("--update", action="store_true", help="with --only and --out: recheck those rows of --out")
    args = parser.parse_args(argv)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    rows = run(args.only)
    if args.update and args.out:
        fresh = {r.model_type: r for r in rows}
        rows = [fresh.get(r.model_type, r) for r in read_table(args.out)]
    text = table(rows, versions())
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
