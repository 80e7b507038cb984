"""procward's supervisor: apps, their instances, restarts, and the config that describes them.

Built on ``procward.kit`` alone (a test enforces it). Pure cores take plain
values and return decisions; a thin shell forks, signals and reads pipes:

- ``spec``: ``AppSpec``, the checked form of one app, and ``launch``, which
  expands it into the argv, environment and cwd of one instance.
- ``config``: ``procward.toml`` to ``Config``, reporting every problem at once.
- ``graph``: the ``depends_on`` graph: cycles, start layers, stop order.
- ``machine``: one instance's lifecycle, events and ``now`` in, actions out;
  ``instance`` performs them through a narrow ``host`` (timers from one
  clock, spawner, child registry), which the ``supervisor`` provides and
  tests fake (``tests/supervision/fakes.py``).

Nothing is imported here, so importing one module costs only that module.
"""
