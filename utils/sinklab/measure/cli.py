"""`sinklab measure MODEL` (also ``python -m sinklab.measure MODEL``): table, JSON report and an offline HTML page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sinklab import metrics
from sinklab.errors import SinklabError
from sinklab.measure.api import DEFAULT_EPS, STATS, measure
from sinklab.measure.report import SinkReport


def add_arguments(parser) -> None:
    """Arguments of `sinklab measure MODEL`."""
    parser.add_argument("model", help="hub id, local folder, or a name from sinklab.models.REGISTRY")
    parser.add_argument("--prompts", help="text file, one prompt per line (default: the course's natural paragraphs)")
    parser.add_argument("--seq-len", type=int, default=64, help="tokens per sample (Gu et al. use 64)")
    parser.add_argument("--samples", type=int, default=16, help="number of samples")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--eps", type=float, nargs="+", default=list(DEFAULT_EPS), help="sink thresholds in (0, 1)")
    parser.add_argument("--stats", nargs="+", default=["first"], choices=STATS, help="statistics to measure")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", default="sinklab-measure", help="writes OUT.json (the report) and OUT.html (heatmap)")


def cli_main(args) -> int:
    """`sinklab measure MODEL`: layer x head table of first-token importance, sink rates, JSON and HTML chart."""
    from tqdm.auto import tqdm

    from sinklab import models
    from sinklab.measure.page import write_page

    for e in args.eps:
        metrics.validate_eps(e)
    model, tokenizer = models.load_model(args.model, device=args.device)
    texts = sample_texts(_read_prompts(args.prompts), args.samples)
    reports = []
    for start in tqdm(range(0, len(texts), args.batch_size), desc=f"measuring {args.model}", unit="batch"):
        batch = tokenize(tokenizer, texts[start : start + args.batch_size], args.seq_len)
        reports.append(measure(model, batch, args.stats, eps=args.eps))
    report = SinkReport.concat(reports)
    print(format_head_table(report))
    for eps, rate in report.sink_rate.items():
        print(f"sink rate at eps={eps:g}: {100 * rate:.1f}% of (sample, layer, head)")
    json_path = report.save(f"{args.out}.json")
    write_page(report, f"{args.out}.html", title=f"{args.model}: mean attention on the first token")
    print(f"wrote {json_path} and {args.out}.html")
    return 0


def sample_texts(prompts: Sequence[str], samples: int) -> list[str]:
    """``samples`` texts, each four consecutive prompts (cycling), so every sample is long enough to truncate."""
    if not prompts:
        raise SinklabError("The prompt set is empty. Fix: give a file with one prompt per line.")
    return [" ".join(prompts[(i + j) % len(prompts)] for j in range(4)) for i in range(samples)]


def tokenize(tokenizer, texts: Sequence[str], seq_len: int) -> dict:
    """Texts as a batch of exactly ``seq_len`` tokens, truncated or padded (BOS kept where the tokenizer adds one)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer(list(texts), truncation=True, max_length=seq_len, padding="max_length", return_tensors="pt")


def format_head_table(report: SinkReport) -> str:
    """Plain-text layer x head table of mean first-token importance (alpha_0)."""
    values = report.mean_first_mass()
    header = "layer " + " ".join(f"h{h:<4d}" for h in range(values.shape[1]))
    rows = [f"{layer:>5d} " + " ".join(f"{v:5.2f}" for v in row) for layer, row in enumerate(values.tolist())]
    return "\n".join(["mean attention on the first token (Gu et al.'s alpha_0), per layer and head:", header, *rows])


def _read_prompts(path: str | None) -> list[str]:
    if path is None:
        from sinklab.prompts import NATURAL

        return list(NATURAL)
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise SinklabError(f"Cannot read the prompt file {path}: {e.strerror}. Fix: check the path.") from e
    return [line.strip() for line in lines if line.strip()]
