import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Tiny convolutions run far slower with several threads on a busy 2-core machine.
    torch.set_num_threads(1)
    yield
