"""The random-architecture benchmark (Sec. 5.1, Table 2, App. B, C): per-run result files of a Hydra
multirun (results.py) and the tables read from them (table2.py)."""
