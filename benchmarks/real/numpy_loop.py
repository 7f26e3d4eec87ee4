"""Python driving numpy: a small particle simulation whose arrays are so
small (64 particles) that the time is split between the Python functions
calling numpy and numpy's C code, run from the module's body for
RP_SECONDS.  Its window begins after `import numpy`: the threads OpenBLAS
starts then keep the interpreter's name, not the main thread's."""
import time

import _window
import numpy as np

start = _window.begin()


def forces(pos, mass):
    delta = pos[:, None, :] - pos[None, :, :]
    dist2 = np.einsum("ijk,ijk->ij", delta, delta) + 0.01
    inv3 = dist2 ** -1.5
    np.fill_diagonal(inv3, 0.0)
    return -np.einsum("ij,ijk,j->ik", inv3, delta, mass)


def step(pos, vel, mass, dt):
    acc = forces(pos, mass)
    vel += acc * dt
    pos += vel * dt
    return np.sqrt((vel * vel).sum(axis=1)).max()


def energy(pos, vel, mass):
    kinetic = 0.5 * np.dot(mass, (vel * vel).sum(axis=1))
    delta = pos[:, None, :] - pos[None, :, :]
    dist = np.sqrt((delta ** 2).sum(axis=2)) + np.eye(len(mass))
    potential = -0.5 * (np.outer(mass, mass) / dist).sum()
    return kinetic + potential


rng = np.random.default_rng(7)
pos = rng.standard_normal((64, 3))
vel = np.zeros((64, 3))
mass = rng.uniform(0.5, 1.5, 64)
units = 0
while units == 0 or time.perf_counter() - start < _window.seconds():
    fastest = step(pos, vel, mass, 1e-4)
    if units % 10 == 0:
        total = energy(pos, vel, mass)
        np.linalg.solve(np.eye(8) * total + 1.0, np.arange(8.0))
    units += 1
    if units == 1:
        _window.name_other_threads()  # any started by the first call into BLAS

_window.end(start, units)
