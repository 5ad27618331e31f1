"""Tests for helpers.ps_cluster: input checks before anything starts, and a real 1-worker + 1-PS cluster."""

from __future__ import annotations

import pytest

from helpers import ps_cluster


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"workers": True}, "workers must be an integer >= 1"),
        ({"ps": 0}, "ps must be an integer >= 1"),
        ({"ps": "2"}, "ps must be an integer >= 1"),
        ({"inter_op_threads": 0}, "inter_op_threads must be an integer >= 1"),
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
        ({"timeout": True}, "timeout must be a positive number of seconds"),
    ],
)
def test_start_rejects_bad_arguments_before_starting_anything(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ps_cluster.start(**kwargs)


def test_server_program_serves_the_job_and_index_it_is_given():
    program = ps_cluster.SERVER_PROGRAM
    assert "tf.distribute.Server(" in program and "job_name=job, task_index=index" in program
    assert "server.join()" in program


def test_server_env_holds_tensorflow_defaults_for_what_the_strategy_sets():
    # ParameterServerStrategy sets these in the coordinator's os.environ; servers must not inherit its values
    assert ps_cluster.SERVER_ENV == {
        "TF_ENABLE_EAGER_CLIENT_STREAMING_ENQUEUE": "True",
        "TF_PS_DISABLE_ASYNC_EXECUTOR_GLOBALLY": "False",
    }


def test_a_real_cluster_starts_is_killed_restarted_and_stopped(tmp_path):
    with ps_cluster.start(workers=1, ps=1) as cluster:
        assert {job: len(a) for job, a in cluster.cluster_spec.items()} == {"worker": 1, "ps": 1}
        assert cluster.alive("worker", 0) and cluster.alive("ps", 0)
        assert all(d.is_dir() for d in cluster.workdirs.values())
        assert cluster.resolver().cluster_spec().as_dict() == cluster.cluster_spec
        with pytest.raises(ValueError, match="still running: kill it first"):
            cluster.restart("worker", 0)
        with pytest.raises(ValueError, match="job must be one of"):
            cluster.kill("chief", 0)
        with pytest.raises(ValueError, match=r"index must be an integer in 0..0"):
            cluster.alive("ps", 1)
        cluster.kill("worker", 0)
        assert not cluster.alive("worker", 0)
        cluster.restart("worker", 0)
        assert cluster.alive("worker", 0)
        root = cluster.root
    assert not cluster.alive("worker", 0) and not cluster.alive("ps", 0)
    assert not root.exists()
    assert "0 running" in repr(cluster)
