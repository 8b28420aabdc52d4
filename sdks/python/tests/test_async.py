"""AsyncClient (grpc.aio) against a real server."""
import asyncio

import numpy as np
import pytest

import hyperspace
from hyperspace import errors
from conftest import free_port


def run(coro):
    return asyncio.run(coro)


def test_async_client_every_method(shared_server):
    async def main():
        async with hyperspace.AsyncClient(shared_server.grpc_target) as db:
            await db.create_collection("aio", 3, "l2", ef_search=40)
            assert "aio" in await db.list_collections()
            assert await db.insert(1, [1, 0, 0], {"k": "a"}, collection="aio")
            assert await db.batch_insert(np.eye(3)[1:], [2, 3], [{"k": "b"}, {"k": "c"}],
                                         collection="aio", durability="strict")
            st = await db.get_collection_stats("aio")
            assert st["count"] == 3 and st["ef_search"] == 40
            # many searches in flight at once on one channel
            res = await asyncio.gather(*(db.search([1, 0, 0], top_k=1, collection="aio")
                                         for _ in range(50)))
            assert all(r[0]["id"] == 1 for r in res)
            hits = await db.search([0, 1, 0], top_k=3, filters=[
                {"type": "match", "key": "k", "value": "c"}], collection="aio")
            assert [h["id"] for h in hits] == [3]
            hy = await db.search([0, 0, 1], top_k=3, hybrid_query="b", collection="aio")
            assert hy[0]["id"] == 2 and "score" in hy[0]
            b = await db.search_batch(np.eye(3), top_k=1, collection="aio", as_numpy=True)
            assert b.ids[:, 0].tolist() == [1, 2, 3]
            d = await db.get_digest("aio")
            assert d["count"] == 3
            assert await db.configure(ef_search=20, collection="aio")
            assert await db.delete(2, "aio") is True
            assert await db.trigger_snapshot() and await db.trigger_vacuum()
            assert await db.rebuild_index("aio")
            stats = [s async for s in db.monitor(count=2)]
            assert len(stats) == 2 and stats[0]["total_vectors"] >= 2
            n = await db.upload("aio", np.random.rand(5000, 3), np.arange(100, 5100),
                                batch_size=500, parallel=4, progress=False)
            assert n == 5000
            assert (await db.get_collection_stats("aio"))["count"] == 5002
            with pytest.raises(errors.DimensionMismatchError) as ei:
                await db.insert(9, [1, 2], collection="aio")
            assert ei.value.details == {"expected": 3, "got": 2}
            with pytest.raises(errors.CollectionNotFoundError):
                await db.search([1, 2, 3], collection="missing")
            with pytest.raises(errors.UnimplementedError):
                await db.insert_text(1, "x", collection="aio")
            assert await db.delete_collection("aio")
    run(main())


def test_async_compat_mode_and_unreachable(shared_server):
    async def main():
        db = hyperspace.AsyncClient(shared_server.grpc_target, raise_errors=False)
        assert await db.delete_collection("never") is False
        assert await db.search([1.0], collection="never") == []
        await db.close()
        down = hyperspace.AsyncClient("127.0.0.1:%d" % free_port(), timeout=5)
        with pytest.raises(errors.UnavailableError):
            await down.list_collections()
        await down.close()
    run(main())
