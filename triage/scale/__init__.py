"""Batch scoring on Dask: the same scoring code as in one process, over Parquet partitions.

    cluster.py   connecting (an address, DASK_SCHEDULER_ADDRESS or a LocalCluster), the input
                 parts, running partitions with progress and naming the one that failed
    history.py   the risk history as counts and sums per key at the few times the features
                 ask at: summed per partition, added up in a tree, copied to every worker
    orders.py    risk scores of open orders: that history, then only the open orders
    cases.py     case categories of a large table of texts, part by part

Dask is the ``[dask]`` extra; nothing here is imported until a command asks for
``--engine dask`` (docs/SCALE.md).
"""
