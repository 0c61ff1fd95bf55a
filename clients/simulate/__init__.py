"""The VGI simulator (`vgi simulate`): a grid operator, aggregators and their EVs driving a platform.

Modules: ``population`` (chargers, EV sessions and their charging — pure,
deterministic by seed), ``timeline`` (the simulated day and its events),
``parties`` (each party's credentials, channel and SDK calls), ``run`` (the
scenario), ``report`` and ``chart`` (what it writes), ``cli`` (the
subcommand, with an in-process platform for ``make demo``).
"""
