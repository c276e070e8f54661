"""Mini-SHRDLU, the block-puzzle task of Graves et al., Nature 2016 (Methods "Mini-SHRDLU",
Fig. 4-5, ED Tables 2 and 6): board rules (``board``), an exact planner (``planner``), lessons
(``lessons``), episodes (``episode``), the encoding into the batch schema (``encoding``), metrics
(``metrics``) and a gymnasium environment (``env``), registered here as
``memnets/MiniSHRDLU-v0``::

    import gymnasium, tasks.shrdlu
    env = gymnasium.make("memnets/MiniSHRDLU-v0", lesson=1)

Each module's docstring says which of its choices are the paper's and which are ours. In short:

- the paper's: 3 x 3 board, up to 6 numbered blocks, 7 actions (6 moves of a top block, pass), up
  to 10 lettered goals of up to 6 adjacency constraints shown one per step, a go-cue naming one
  goal, ``L + 6`` moves allowed, reward from constraints satisfied less an invalid-move cost,
  26 lessons passed at 85% of constraints satisfied over 160 episodes, Fig. 5b's outcomes;
- ours: the action numbering, "adjacent" as directly next to, the lesson values (ED Table 6 is
  not transcribed), how goals and start boards are drawn, the 102-wide one-hot step vector with
  the board shown at every step, reward as the change in constraints met (so undoing one costs 1)
  less 0.1 per illegal move, ending as soon as the goal is met, every action step (pass and
  illegal moves too) counting as a move, and actions ignored before the action phase.
"""

import gymnasium

ENV_ID = "memnets/MiniSHRDLU-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="tasks.shrdlu.env:MiniSHRDLUEnv")
