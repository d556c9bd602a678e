"""Data modules: each yields, per generator iteration, the n_critic fresh real batches of Alg. 1."""
