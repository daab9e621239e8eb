import os
import os.path as osp
import signal

import pytest

from torch_geometric_infodcl.run_folder import (
    LOCK_FILE,
    RUN_FILES,
    RunFolder,
    RunFolderBusyError,
)


def touch(folder, name, text='x'):
    with open(osp.join(folder, name), 'w') as f:
        f.write(text)


def test_acquire_creates_the_folder_and_release_removes_the_lock(tmp_path):
    path = str(tmp_path / 'a' / 'b')
    with RunFolder(path).acquire() as folder:
        assert folder.locked and osp.isfile(osp.join(path, LOCK_FILE))
        folder.write('results.json', '{}')
        folder.write_json('metrics.jsonl', {'x': 1})
    assert not folder.locked
    assert sorted(os.listdir(path)) == ['metrics.jsonl', 'results.json']
    with pytest.raises(RuntimeError, match='must be acquired'):
        folder.write('results.json', '{}')


def test_a_second_owner_is_refused(tmp_path):
    first = RunFolder(str(tmp_path)).acquire()
    with pytest.raises(RunFolderBusyError,
                       match=rf"in use by another run \(pid {os.getpid()} "):
        RunFolder(str(tmp_path)).acquire()
    first.release()
    RunFolder(str(tmp_path)).acquire().release()


def test_another_process_is_refused_while_the_run_lives(tmp_path,
                                                         run_forked):
    folder = RunFolder(str(tmp_path)).acquire()

    def second_run():
        try:
            RunFolder(str(tmp_path)).acquire()
        except RunFolderBusyError as e:
            print(e)
            return 3
        return 0

    status, output = run_forked(second_run)
    assert os.WEXITSTATUS(status) == 3, output
    assert f'pid {os.getpid()}' in output
    folder.release()
    status, output = run_forked(second_run)
    assert os.WEXITSTATUS(status) == 0, output


def test_the_stale_lock_of_a_killed_run_is_taken_over(tmp_path, run_forked):
    def killed_run():
        RunFolder(str(tmp_path)).acquire()
        os.kill(os.getpid(), signal.SIGKILL)

    status, _ = run_forked(killed_run)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert osp.isfile(tmp_path / LOCK_FILE)  # Left behind by the kill.
    with pytest.warns(UserWarning, match=r'took over the stale lock .* no '
                      r'longer alive \(pid \d+ on'):
        folder = RunFolder(str(tmp_path)).acquire()
    folder.release()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('name', RUN_FILES)
def test_any_run_file_marks_the_folder_as_taken(tmp_path, name):
    # A previous run whose checkpoint.pt is gone is not overwritten either.
    touch(tmp_path, name)
    with pytest.raises(FileExistsError, match=rf"holds files of a previous "
                       rf"run \({name}\); set resume=True \(--resume\)"):
        RunFolder(str(tmp_path)).acquire()
    assert not osp.exists(tmp_path / LOCK_FILE)
    touch(tmp_path, 'notes.txt')  # Files of other programs do not count.
    os.remove(tmp_path / name)
    RunFolder(str(tmp_path)).acquire().release()


def test_resume_without_checkpoint(tmp_path):
    # Killed before its first checkpoint: resuming starts afresh.
    touch(tmp_path, 'config.yaml')
    touch(tmp_path, 'metrics.jsonl', '')
    RunFolder(str(tmp_path)).acquire(resume=True).release()
    # Evaluated, then the checkpoint was deleted: nothing to resume from.
    touch(tmp_path, 'results.json', '{}')
    with pytest.raises(FileNotFoundError, match=r"checkpoint '.*checkpoint."
                       r"pt' is missing but the run was already evaluated "
                       r"\(results.json\)"):
        RunFolder(str(tmp_path)).acquire(resume=True)


def test_temporaries_of_interrupted_writes_are_removed(tmp_path):
    for name in ('.checkpoint.pt.k3j2h1.tmp', '.results.json.a8f0c2.tmp',
                 '.curves.png.z.tmp', '.notes.txt.a8f0c2.tmp', 'keep.tmp'):
        touch(tmp_path, name)
    RunFolder(str(tmp_path)).acquire().release()
    assert sorted(os.listdir(tmp_path)) == ['.notes.txt.a8f0c2.tmp',
                                            'keep.tmp']


def test_a_file_is_not_a_folder(tmp_path):
    touch(tmp_path, 'file')
    with pytest.raises(NotADirectoryError, match="output folder '.*file' is "
                       "a file"):
        RunFolder(str(tmp_path / 'file')).acquire()
    with pytest.raises(NotADirectoryError):
        RunFolder(str(tmp_path / 'file' / 'sub')).acquire()
