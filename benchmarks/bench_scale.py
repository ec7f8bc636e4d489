"""Beyond one machine (issue 17): a shared Redis cache, budget and rate limit, Ray batches.

Everything on loopback: a redis-server started here on a free port, the simulated judge
(``llm_rerank.testing.JudgeServer``) in this process, clients in other processes. Writes
``benchmarks/results/scale.md``.

    python benchmarks/bench_scale.py --data DATA_DIR
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from harness import JUDGE_MODEL as MODEL
from harness import arguments, data_dir, free_port, judge_server, markdown_table, write_fragment

from llm_rerank.eval import RerankRequest, load_trec_dl19
from llm_rerank.testing import JudgeServer

LATENCY_KILL_MS = 300  # slow enough that Redis dies with queries in flight
PRICE = (1e-6, 2e-6)  # US dollars per prompt / completion token, registered for the judge


class Redis:
    """A redis-server of our own on 127.0.0.1 (no persistence), to kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or sys.exit("redis-server is not installed")
        self.process = subprocess.Popen([binary, "--port", str(self.port), "--bind",
                                         "127.0.0.1", "--save", "", "--appendonly", "no"],
                                        stdout=subprocess.DEVNULL)
        import redis

        for _ in range(100):
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushdb()


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


# --- 1. two serve processes, one Redis cache ----------------------------------------------

def serve_pair(redis: Redis, requests: list[RerankRequest], qrels: Any) -> list[str]:
    request = requests[0]
    body = {"query": request.query, "documents": [d.text for d in request.documents[:20]]}
    with JudgeServer(requests, qrels) as server:
        ports = [free_port(), free_port()]
        processes = [subprocess.Popen(
            ["llm-rerank", "serve", "-s", "listwise", "-m", MODEL, "--api-base", server.url,
             "--api-key", "x", "--cache", redis.url, "--port", str(port), "--no-access-log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
        try:
            for port in ports:
                for _ in range(600):
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                        break
                    except OSError:
                        time.sleep(0.1)
            first = post(f"http://127.0.0.1:{ports[0]}/v2/rerank", body)
            after_first = len(server.arrivals)
            second = post(f"http://127.0.0.1:{ports[1]}/v2/rerank", body)
            reached = len(server.arrivals) - after_first
        finally:
            for process in processes:
                process.terminate()
                process.wait(30)
    same = [r["index"] for r in first["results"]] == [r["index"] for r in second["results"]]
    usage = second["meta"]["llm_rerank"]
    return [
        "### Two `serve` processes, one Redis cache\n",
        f"`llm-rerank serve -s listwise -m {MODEL} --cache {redis.url}` on two ports; one "
        "request (a DL19 query, its top 20 passages) to the first, then the same to the "
        "second.\n",
        markdown_table(["", "provider requests", "llm_calls", "cache_hits"], [
            ["first server", after_first, first["meta"]["llm_rerank"]["llm_calls"],
             first["meta"]["llm_rerank"]["cache_hits"]],
            ["second server", reached, usage["llm_calls"], usage["cache_hits"]]]),
        f"\n- {'PASS' if reached == 0 and same else 'FAIL'}: the repeated request reached the "
        f"provider {reached} times (same ranking: {same})\n",
    ]


# --- 2. a shared budget over two processes ------------------------------------------------

def budget_child(args: tuple[str, str, dict[str, Any], str, list[tuple[str, list[str]]]]
                 ) -> list[str]:
    api_base, store, limits, on_budget, batch = args
    from llm_rerank import get_reranker
    from llm_rerank.budget import Budget
    from llm_rerank.errors import BudgetExceeded
    from llm_rerank.llm import register_price

    register_price(MODEL, *PRICE)
    reranker = get_reranker("pointwise", model=MODEL, api_base=api_base, api_key="x",
                            cache=False, max_concurrency=32, use_logprobs=False,
                            on_budget=on_budget)
    budget = Budget(store=store, name="team-a", **limits)
    outcomes = reranker.rank_batch(batch, budget=budget, return_exceptions=True)
    return ["BudgetExceeded" if isinstance(o, BudgetExceeded) else type(o).__name__
            if isinstance(o, Exception) else f"partial:{o.stopped}" for o in outcomes]


def shared_budget(redis: Redis, requests: list[RerankRequest], qrels: Any) -> list[str]:
    from llm_rerank.budget import Budget

    batch = [(r.query, [d.text for d in r.documents[:32]]) for r in requests[:1]]
    rows, checks = [], []
    with JudgeServer(requests, qrels, latency_ms=20) as server, \
            multiprocessing.get_context("spawn").Pool(2) as pool:
        for limits, on_budget in (({"max_calls": 40}, "keep_order"),
                                  ({"max_calls": 40}, "raise"),
                                  ({"max_cost_usd": 0.002}, "keep_order")):
            redis.flush()
            before = len(server.arrivals)
            outcomes = pool.map(budget_child, [(server.url, redis.url, limits, on_budget,
                                                batch)] * 2)
            reached = len(server.arrivals) - before
            cost = Budget(store=redis.url, name="team-a").spent()[2]
            limit = next(iter(limits.items()))
            rows.append([f"{limit[0]}={limit[1]}", on_budget, reached,
                         f"{cost:.6f}", " / ".join(",".join(o) for o in outcomes)])
            if limit[0] == "max_calls":
                checks.append((reached <= 40, f"{limit[0]}=40, on_budget={on_budget}: "
                               f"{reached} calls reached the provider (at most 40)"))
            else:
                one_call = 0.0006  # a pointwise prompt of ~300 tokens + its answer cap, priced
                checks.append((cost <= limit[1] + one_call,
                               f"max_cost_usd={limit[1]}: ${cost:.6f} booked (at most the "
                               f"limit + one call's estimate, ${one_call})"))
    return [
        "### A shared budget over two processes\n",
        "Two processes, each `rank_batch` of one DL19 query with 32 passages, pointwise, "
        "`max_concurrency=32` (32 calls in flight each), each with its own "
        "`Budget(store=REDIS, name='team-a', ...)`; the judge answers after 20 ms.\n",
        markdown_table(["limit", "on_budget", "provider requests", "ledger $",
                        "outcomes (process 1 / process 2)"], rows),
        "",
        *(f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in checks),
        "",
    ]


# --- 3. a shared rate limit over two processes --------------------------------------------

def rate_child(api_base: str, store: str, seconds: float,
               batch: list[tuple[str, list[str]]], ready: Any, results: Any) -> None:
    """Rank queries one after another for ``seconds`` once every process is ready to send."""
    from llm_rerank import get_reranker

    reranker = get_reranker("pointwise", model=MODEL, api_base=api_base, api_key="x",
                            cache=False, max_concurrency=32, use_logprobs=False,
                            max_rpm=600, rate_limit_store=store, transport="direct")
    reranker.rank(batch[0][0], batch[0][1][:2])  # imports and connections, before the window
    ready.wait()
    until = time.monotonic() + seconds
    retries = 0
    for query, docs in batch * 10:
        if time.monotonic() >= until:
            break
        retries += reranker.rank(query, docs).usage.retries
    results.put(retries)


def shared_rate(redis: Redis, requests: list[RerankRequest], qrels: Any,
                seconds: float) -> list[str]:
    """The window opens 2 s after both processes passed the barrier (both are sending by
    then) and lasts ``seconds``; the processes send until 1 s after it closes."""
    batch = [(r.query, [d.text for d in r.documents[:50]]) for r in requests]
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(3), context.Queue()
    with JudgeServer(requests, qrels, max_rpm=600) as server:
        processes = [context.Process(target=rate_child, args=(
            server.url, redis.url, 2 + seconds + 1, batch, ready, results)) for _ in range(2)]
        for process in processes:
            process.start()
        ready.wait(timeout=600)
        opened = time.monotonic() + 2
        retries = sum(results.get(timeout=600 + seconds) for _ in processes)
        for process in processes:
            process.join(60)
        stats = server.stats()
    window = [t for t in server.arrivals if opened <= t < opened + seconds]
    per_minute = len(window) / seconds * 60
    ok = stats.rate_limited == 0 and abs(per_minute - 600) <= 30
    return [
        "### A shared rate limit over two processes\n",
        f"Two processes ranking DL19 queries (50 passages each, pointwise, 32 in flight) "
        f"with `max_rpm=600, rate_limit_store=REDIS` against the judge limited to 600 "
        f"requests a minute (a token bucket of 10, refilled 10 a second; 429 with "
        f"Retry-After beyond it). Both processes start sending together (a barrier, after "
        f"a warm-up query each); the rate is measured at the judge over {seconds:.0f} s "
        f"from 2 s after the start.\n",
        markdown_table(["requests (whole run)", "429s sent", "client retries",
                        f"requests in the {seconds:.0f} s window", "rate (per minute)"],
                       [[stats.requests, stats.rate_limited, retries, len(window),
                         f"{per_minute:.1f}"]]),
        f"\n- {'PASS' if ok else 'FAIL'}: {stats.rate_limited} 429s; achieved "
        f"{per_minute:.1f} requests a minute (within 5% of 600: 570-630)\n",
    ]


# --- 4. Ray Data ----------------------------------------------------------------------------

RAY_BATCH = 4  # rows to an actor at a time, all ranked at once: each actor's in-flight limit


def ray_batches(requests: list[RerankRequest], qrels: Any) -> list[str]:
    """``rerank_dataset``'s actor, with each batch's start and end stamped, on 1 then 2
    actors; the rankings against one local ``rank_batch``."""
    import ray

    from llm_rerank import get_reranker
    from llm_rerank.integrations.ray import RerankActor

    class StampedActor(RerankActor):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.ready = time.time()

        def __call__(self, batch: Any) -> Any:
            began = time.time()
            ranked = super().__call__(batch)
            ranked["ready"], ranked["began"], ranked["ended"] = self.ready, began, time.time()
            return ranked

    rows = [{"query_id": r.query_id, "query": r.query,
             "documents": [{"id": d.id, "text": d.text} for d in r.documents]}
            for r in requests]
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=200 * 1024 * 1024,
             log_to_driver=False)
    table = []
    try:
        with JudgeServer(requests, qrels, latency_ms=100) as server:
            options = {"model": MODEL, "api_base": server.url, "api_key": "x", "cache": False,
                       "transport": "direct", "max_concurrency": 64}
            local = get_reranker("listwise", **options).rank_batch(
                [(r.query, r.documents) for r in requests])
            spans = {}
            for actors in (1, 2):
                started = time.time()
                ranked = ray.data.from_items(rows).map_batches(
                    StampedActor, batch_format="pandas", batch_size=RAY_BATCH,
                    compute=ray.data.ActorPoolStrategy(size=actors), fn_constructor_kwargs={
                        "strategy": "listwise", "options": options, "top_n": None,
                        "budget": None, "max_concurrent_queries": RAY_BATCH}).take_all()
                wall = time.time() - started
                ready = max(row["ready"] for row in ranked) - started
                spans[actors] = max(row["ended"] for row in ranked) - \
                    min(row["began"] for row in ranked)
                by_id = {row["query_id"]: list(row["ranking"]) for row in ranked}
                same = sum(by_id[r.query_id] == [x.index for x in res]
                           for r, res in zip(requests, local, strict=True))
                table.append([actors, f"{same}/{len(requests)}", f"{wall:.1f}", f"{ready:.1f}",
                              f"{spans[actors]:.1f}", f"{len(requests) / spans[actors]:.2f}"])
    finally:
        ray.shutdown()
    n = len(requests)
    speedup = spans[1] / spans[2]
    return [
        "### Ray Data: DL19 on actors\n",
        f"{n} DL19 queries (BM25 top 100), listwise (window 20, step 10: 9 calls in a row "
        f"per query), the judge answering after 100 ms; `rerank_dataset`'s actor with "
        f"`batch_size={RAY_BATCH}, max_concurrent_queries={RAY_BATCH}` (each actor ranks "
        f"{RAY_BATCH} queries at once) on a local Ray (`num_cpus=2`), against one local "
        "`rank_batch`. The wall time includes starting the actors (a Python process each, "
        "importing the package and LiteLLM's tables: the fixed cost that hid the speed-up "
        "in the first run); the ranking time runs from the first batch's start to the last "
        "batch's end.\n",
        markdown_table(["actors", "same rankings as rank_batch", "wall s",
                        "actors ready at s", "ranking s", "queries/s (ranking)"], table),
        f"\n- {'PASS' if table[1][1] == f'{n}/{n}' else 'FAIL'}: 2 actors give the same "
        f"rankings as rank_batch ({table[1][1]}); ranking throughput x{speedup:.2f} of 1 "
        "actor\n",
    ]


# --- 5. Redis killed mid-batch ------------------------------------------------------------

def redis_killed(redis: Redis, requests: list[RerankRequest], qrels: Any) -> list[str]:
    from llm_rerank import get_reranker
    from llm_rerank.budget import Budget
    from llm_rerank.errors import StoreUnavailable

    batch = [(r.query, r.documents[:40]) for r in requests[:20]]
    killed_after = 3  # results
    finished: list[int] = []

    def kill_on_progress(position: int, results: Any) -> None:
        finished.append(position)
        if len(finished) == killed_after:
            redis.kill()  # mid-batch: 4 queries in flight, 13 not started

    with judge_server(requests, qrels, latency_ms=LATENCY_KILL_MS) as server:
        reranker = get_reranker("listwise", model=MODEL, api_base=server.url, api_key="x",
                                cache=redis.url, transport="direct", max_concurrency=16)
        outcomes = asyncio.run(reranker.arank_batch(
            batch, max_concurrent_queries=4, on_result=kill_on_progress,
            return_exceptions=True))
        assert redis.process is None, "the batch ended before Redis was killed"
        done = [o for o in outcomes if not isinstance(o, Exception)]
        complete = sum(len(o) == 40 for o in done)
        errors = sum(o.usage.cache_errors for o in done)
        after_kill = [outcomes[i] for i in range(len(batch)) if i not in finished[:killed_after]]
        uncached_calls = sum(o.usage.llm_calls for o in after_kill
                             if not isinstance(o, Exception))
        budget = Budget(max_calls=10_000, store=redis.url, name="team-a")
        try:
            reranker.rank_batch(batch[:1], budget=budget)
            closed = "no error (FAIL)"
        except StoreUnavailable as exc:
            closed = str(exc)
        redis.start()
        time.sleep(1.1)  # the cache tries Redis again 1 s after its last failure
        again = reranker.rank_batch(batch[:2], budget=budget)
        cached = reranker.rank_batch(batch[:2], budget=budget)
    again_errors = sum(r.usage.cache_errors for r in again)
    ok = complete == len(batch) and errors > 0 and "team-a" in closed and \
        redis.url in closed and again_errors == 0 and \
        sum(r.usage.llm_calls for r in cached) == 0 and budget.spent()[0] > 0
    return [
        "### Redis killed mid-batch, then restarted\n",
        f"{len(batch)} DL19 queries (top 40), listwise with `cache=REDIS`, 4 queries at a "
        f"time, the judge answering after {LATENCY_KILL_MS} ms; Redis killed when "
        f"{killed_after} queries had finished; then a query under a shared "
        "`Budget(store=REDIS, name='team-a')`; then Redis restarted and the same client (no "
        "restart) ranks again.\n",
        f"- queries completed: {complete}/{len(batch)}; the {len(after_kill)} finished after "
        f"the kill made {uncached_calls} provider calls (uncached); cache operations that "
        f"failed (`usage.cache_errors`): {errors}",
        f"- the shared budget with Redis down: `StoreUnavailable: {closed}`",
        f"- after the restart: cache errors {again_errors}, the repeat answered from the cache "
        f"({sum(r.usage.cache_hits for r in cached)} hits, "
        f"{sum(r.usage.llm_calls for r in cached)} calls), the budget's ledger books again "
        f"({budget.spent()[0]} calls)",
        f"\n- {'PASS' if ok else 'FAIL'}: every query completed uncached and counted, the "
        "budget failed closed naming its store, both recovered without a client restart\n",
    ]


# --- 6. overhead of the cache ---------------------------------------------------------------

def cache_overhead(redis: Redis) -> list[str]:
    from llm_rerank.cache import ResponseCache, cache_key
    from llm_rerank.stores.redis_cache import RedisCache

    value = {"text": "[3] > [1] > [2] > [5] > [4]", "logprobs": None, "prompt_tokens": 2100,
             "completion_tokens": 20}
    messages = [{"role": "user", "content": "passage " * 2000}]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, cache in (("disk (diskcache)", ResponseCache(folder)),
                            ("Redis (loopback)", RedisCache(redis.url))):
            keys = [cache_key(MODEL, messages, {"temperature": 0, "n": i}) for i in range(2000)]
            started = time.perf_counter()
            for key in keys:  # a miss: the lookup, then the answer stored
                assert cache.get(key) is None
                cache.set(key, value)
            miss = (time.perf_counter() - started) / len(keys)
            started = time.perf_counter()
            for key in keys:
                assert cache.get(key) is not None
            hit = (time.perf_counter() - started) / len(keys)
            rows.append([name, f"{hit * 1e6:.0f}", f"{miss * 1e6:.0f}"])
    return [
        "### Per-call overhead of the cache\n",
        "2,000 answers: a miss is a lookup that finds nothing and the answer stored; a hit "
        "a lookup that finds it (microseconds per call, one thread, keys computed "
        "beforehand).\n",
        markdown_table(["cache", "hit (µs)", "miss + store (µs)"], rows),
        "",
    ]


def main() -> None:
    parser = arguments(__doc__, queries=False)
    parser.add_argument("--rate-seconds", type=float, default=30.0,
                        help="the rate-limit window (after 2 s of sending, not measured)")
    args = parser.parse_args()
    requests, qrels = load_trec_dl19(data_dir(args.data))
    os.environ.pop("LLM_RERANK_CACHE_URL", None)
    redis = Redis()
    redis.start()
    try:
        body = [*serve_pair(redis, requests, qrels), *shared_budget(redis, requests, qrels),
                *shared_rate(redis, requests, qrels, args.rate_seconds),
                *ray_batches(requests, qrels), *redis_killed(redis, requests, qrels),
                *cache_overhead(redis)]
    finally:
        redis.kill()
    write_fragment("scale", "Beyond one machine: Redis and Ray", "\n".join(body))


if __name__ == "__main__":
    main()
