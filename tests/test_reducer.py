"""fastrnn.parallel.Reducer under mpiexec: a step's grads summed over the
processes, in one bucket or layer by layer while the backward pass goes on, in
float32 or as bfloat16, against a plain NumPy oracle of the same sums."""
import sys
import textwrap

import numpy as np
import pytest

from test_parallel import mpiexec, needs_mpi

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from fastrnn import parallel
    from fastrnn.sparse import RowGrad

    overlap, precision = sys.argv[1] == "overlap", sys.argv[2]
    world = parallel.world()
    n, r = world.size, world.rank

    def grads_of(rank, step):
        rng = np.random.default_rng((rank, step))
        dense = rng.standard_normal((5, 7)).astype(np.float32)
        view = rng.standard_normal((6, 9)).astype(np.float32)[:, 2:8]  # a strided grad
        rows = np.unique(rng.integers(0, 40, 6))
        row = RowGrad(rows, rng.standard_normal((rows.size, 3)).astype(np.float32), np.zeros((40, 3), np.float32))
        return [row, dense, view], float(rng.standard_normal())

    def bf16(x):  # round to bfloat16, to nearest even, written from frexp: 8 significant bits
        m, e = np.frexp(x.astype(np.float64))
        return np.ldexp(np.round(m * 256), e - 8).astype(np.float32)

    def oracle(step):
        every = [grads_of(k, step) for k in range(n)]
        rows = np.unique(np.concatenate([g[0][0].rows for g in every]))
        def whole(g):  # every process's grads as dense arrays over the union of rows
            d = np.zeros((rows.size, 3), np.float32)
            d[np.searchsorted(rows, g[0].rows)] = g[0].values
            return [d, g[1], np.ascontiguousarray(g[2])]
        parts = [whole(g) for g, _ in every]
        out = []
        for j in range(3):
            if precision == "bf16":
                total = bf16(parts[0][j])
                for k in range(1, n):
                    total = total + bf16(parts[k][j])
                out.append(bf16(total))
            else:
                total = parts[0][j].astype(np.float64)  # two processes: one float32 addition, exact in float64
                for k in range(1, n):
                    total = total + parts[k][j]
                out.append(total.astype(np.float32))
        return rows, out, sum(loss for _, loss in every)

    reducer = parallel.Reducer(world, overlap, precision)
    for step in range(3):
        grads, loss = grads_of(r, step)
        if overlap:
            reducer.submit(grads[1:])  # as a layer's final grads
        summed, total, flag = reducer(grads, loss, float(r == 1))
        rows, expected, loss_sum = oracle(step)
        assert np.array_equal(summed[0].rows, rows)
        for got, want in zip([summed[0].values, summed[1], summed[2]], expected):
            if n == 2 or precision == "bf16":
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-6)
        assert summed[2] is grads[2] and summed[1] is grads[1]  # dense grads summed in place
        assert abs(total - loss_sum) <= 1e-6 * max(1, abs(loss_sum)) and flag == 1.0
    print("ok", r)
""")


@needs_mpi
@pytest.mark.parametrize("n,overlap,precision", [(2, "overlap", "fp32"), (2, "whole", "fp32"),
                                                 (2, "overlap", "bf16"), (3, "whole", "bf16")])
def test_the_reducer_sums_as_the_oracle(tmp_path, n, overlap, precision):
    script = tmp_path / "reduce.py"
    script.write_text(SCRIPT)
    done = mpiexec(n, sys.executable, script, overlap, precision, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok") == n


def test_bf16_rounding_is_to_nearest_even():
    from fastrnn.parallel import from_bf16, to_bf16

    one = np.float32(1.0)
    ulp = np.float32(2.0 ** -7)  # bfloat16's spacing above 1
    x = np.array([one + ulp / 2, one + 3 * ulp / 2, one + ulp / 2 + 2.0 ** -20, -(one + ulp / 2), 3.0e38, 0.0],
                 np.float32)
    want = np.array([one, one + 2 * ulp, one + ulp, -one, np.float32(3.0e38), 0.0], np.float64)
    got = from_bf16(to_bf16(x)).astype(np.float64)
    np.testing.assert_allclose(got[:4], want[:4], rtol=0)
    assert got[5] == 0.0 and abs(got[4] - 3.0e38) / 3.0e38 < 2.0 ** -8
