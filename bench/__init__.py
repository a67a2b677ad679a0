"""The benchmark suite: each figure is a ratio to a baseline measured in the same run.

Run ``python -m bench`` (or ``make bench``); ``python -m bench --help`` lists the options.
"""
