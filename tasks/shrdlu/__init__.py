"""Mini-SHRDLU, the block-puzzle task of Graves et al., Nature 2016 (Methods "Mini-SHRDLU",
Fig. 4-5, ED Tables 2 and 6): board rules, an exact planner, lessons, episodes, the encoding into
the batch schema, metrics and a gymnasium environment."""
