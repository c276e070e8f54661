"""Speed and memory tools: bench (against nn.LSTM), bench_ab (two variants in one process), profile_step."""
