"""Mini-SHRDLU, the block-puzzle task of Graves et al., Nature 2016 (Methods "Mini-SHRDLU",
Fig. 4-5, ED Tables 2 and 6): board rules (``board``), an exact planner (``planner``), lessons
(``lessons``), episodes (``episode``), the encoding into the batch schema (``encoding``), metrics
(``metrics``) and a gymnasium environment (``env``), registered here as
``memnets/MiniSHRDLU-v0``::

    import gymnasium, tasks.shrdlu
    env = gymnasium.make("memnets/MiniSHRDLU-v0", lesson=1)

Each module's docstring says which of its choices are the paper's and which are ours.
"""

import gymnasium

ENV_ID = "memnets/MiniSHRDLU-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="tasks.shrdlu.env:MiniSHRDLUEnv")
