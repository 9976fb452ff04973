"""harvester's benchmarks: `python -m bench` (see `bench/__main__.py`).

Every scenario measures harvester and a baseline side by side in the same run and returns
`bench.common.Result` rows; nothing is compared to figures measured earlier.
"""
