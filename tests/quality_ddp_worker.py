"""One rank of the quality evaluator's DDP test (tests/test_evaluation.py starts two of these).

    python tests/quality_ddp_worker.py RANK WORLD PORT OUT_DIR

Scores a fixed tiny generator with ImageQuality (gloo on the CPU when WORLD > 1) and writes this rank's
metrics to OUT_DIR/rank{RANK}.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_quality_metrics import TinyExtractor, TinyGenerator, TinyImageData  # noqa: E402
from wgangp.evaluation.context import eval_context  # noqa: E402
from wgangp.evaluation.quality import ImageQuality  # noqa: E402


def score(out_dir: Path) -> dict[str, float]:
    """IS over one split and KID over full-size subsets: both independent of the order the ranks'
    features are gathered in, so two processes must find what one finds."""
    torch.manual_seed(0)
    generator = TinyGenerator((3, 8, 8))
    evaluator = ImageQuality(
        TinyExtractor,
        str(out_dir / "stats"),
        num_samples=30,
        num_real=30,
        splits=1,
        kid_subsets=2,
        kid_subset_size=30,
        batch_size=10,
    )
    data = TinyImageData(batch_size=8)
    data.prepare_data()
    data.setup("fit")  # as wgangp.build.build does: the data module must be loaded before it is sampled
    evaluator.setup(data, eval_context(generator, seed=0, out_dir=out_dir))
    with torch.no_grad():
        return evaluator.evaluate(generator.eval(), None)


if __name__ == "__main__":
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
    metrics = score(out / f"world{world}")
    (out / f"world{world}-rank{rank}.json").write_text(json.dumps(metrics))
    if world > 1:
        dist.destroy_process_group()
