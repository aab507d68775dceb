from __future__ import annotations

import logging

import pytest
import torch

from gsfm.inference.memory import MemoryBank
from tests import reference

CK, CV, H, W = 4, 6, 2, 3


def entry(n_objects: int, fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((1, CK, H, W), fill), torch.full((1, n_objects, CV, H, W), fill)


def test_grows_geometrically_and_writes_in_place():
    bank = MemoryBank(initial_capacity=4)
    bank.add_objects(2)
    capacities, pointers = [], []
    for t in range(20):
        bank.add(*entry(2, float(t)), time=t)
        capacities.append(bank.capacity)
        pointers.append(bank.keys().data_ptr())
    assert sorted(set(capacities)) == [4, 8, 16, 32]
    assert len(set(pointers)) == 4  # storage replaced only when it grew
    assert bank.keys().shape == (1, CK, 20, H, W)
    assert reference.memory_values(bank).shape == (1, 2, CV, 20, H, W)
    assert torch.equal(bank.keys()[0, 0, :, 0, 0], torch.arange(20.0))
    assert torch.equal(reference.memory_values(bank)[0, 1, 0, :, 0, 0], torch.arange(20.0))


def test_views_are_not_copies():
    bank = MemoryBank()
    bank.add_objects(1)
    bank.add(*entry(1, 1.0), time=0)
    bank.add(*entry(1, 2.0), time=3)
    assert bank.keys().data_ptr() == bank._keys.data_ptr()
    assert reference.memory_values(bank).data_ptr() == bank._values.data_ptr()


def test_cap_evicts_oldest_non_permanent_and_keeps_first():
    bank = MemoryBank(max_frames=4)
    bank.add_objects(1)
    bank.add(*entry(1, 0.0), time=0, permanent=True)
    for t in range(3, 60, 3):
        bank.add(*entry(1, float(t)), time=t)
        assert bank.num_frames <= 4
        assert bank.capacity <= 4
    assert sorted(bank.times) == [0, 51, 54, 57]
    # every slot holds the entry of its recorded time
    for slot, t in enumerate(bank.times):
        assert bank.keys()[0, 0, slot, 0, 0].item() == t


def test_later_masks_are_permanent_until_only_permanent_entries_remain(caplog):
    bank = MemoryBank(max_frames=3)
    bank.add_objects(1)
    bank.add(*entry(1, 0.0), time=0, permanent=True)
    bank.add(*entry(1, 1.0), time=1)
    bank.add(*entry(1, 2.0), time=2, permanent=True)
    bank.add(*entry(1, 3.0), time=3)  # evicts 1, not the permanent 2
    assert sorted(bank.times) == [0, 2, 3]
    bank.add(*entry(1, 4.0), time=4, permanent=True)  # evicts 3
    assert sorted(bank.times) == [0, 2, 4]
    with caplog.at_level(logging.WARNING):
        bank.add(*entry(1, 5.0), time=5, permanent=True)  # all permanent: oldest but first
    assert sorted(bank.times) == [0, 4, 5]
    assert "given masks" in caplog.text


def test_new_objects_get_zero_values_in_older_frames():
    bank = MemoryBank()
    bank.add_objects(1)
    bank.add(*entry(1, 1.0), time=0)
    bank.add_objects(2)
    assert reference.memory_values(bank).shape[1] == 3
    assert torch.all(reference.memory_values(bank)[:, 1:] == 0)
    bank.add(*entry(3, 5.0), time=4)
    assert bank.valid_slots(4).tolist() == [False, True]
    assert bank.valid_slots(0).tolist() == [True, True]


def test_rejects_bad_writes():
    with pytest.raises(ValueError, match="at least 2"):
        MemoryBank(max_frames=1)
    bank = MemoryBank()
    bank.add_objects(1)
    with pytest.raises(ValueError, match="objects"):
        bank.add(*entry(2, 0.0), time=0)
    bank.add(*entry(1, 0.0), time=0)
    with pytest.raises(ValueError, match="size"):
        bank.add(torch.zeros(1, CK, 4, 4), torch.zeros(1, 1, CV, 4, 4), time=1)
    bank.clear()
    assert bank.num_frames == 0 and bank.num_objects == 0
