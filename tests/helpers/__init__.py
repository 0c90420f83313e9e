"""What several test files share, one module per kind of thing; test files import from here and
never from each other.

- ``app``: driving the page with Streamlit's AppTest.
- ``bad_inputs``: the bad and awkward images every layer must refuse or explain.
- ``dataset_runs``: a small real dataset run and the engines' sources.
- ``images``: images made in memory (random pixels, encoded files, hand-built PNGs).
- ``model_files``: crafting model files as an attacker would.
- ``summary``: figures the tests measure, printed in the terminal summary.
- ``toy_models``: the toy localisation task, its CNN, a vision transformer of built-in layers.
"""
