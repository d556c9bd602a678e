"""`python src/eval.py ckpt_path=RUN/checkpoints/last.ckpt num_samples=50000`: see conf/eval.yaml."""

from wgangp.eval import main

if __name__ == "__main__":
    main()
