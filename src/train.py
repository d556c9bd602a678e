"""`python src/train.py key=value ...`: see `python src/train.py --help`."""

from wgangp.train import main

if __name__ == "__main__":
    main()
