"""Evaluation: evaluators (one class per measurement) and the one callback that runs them.

Each data config selects its evaluators in its defaults list (conf/evaluator/*.yaml, gathered under the
top-level `evaluators:` node); `wgangp.evaluation.callback.PeriodicEvaluation` runs them during training
and src/eval.py runs the same ones on a checkpoint. Both hand every evaluator the same frozen
`wgangp.evaluation.context.EvalContext` (seed, named streams, latent prior, classes, run config, run directory,
device): evaluators never read the LightningModule. See docs/architecture.md, "Evaluation".
"""
