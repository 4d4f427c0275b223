"""The topology file watch: content changes count, touches do not."""
import os

from controller.watch import FileWatch


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def test_a_new_content_is_noticed_once(tmp_path):
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    assert not watch.changed()
    write(path, 'a: 2\n')
    assert watch.changed()
    assert not watch.changed()


def test_saving_the_same_content_or_touching_the_file_is_not_a_change(tmp_path):
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    write(path, 'a: 1\n')
    os.utime(path, (1, 1))
    assert not watch.changed()


def test_a_save_by_rename_is_noticed(tmp_path):
    path, tmp = tmp_path / 't.yml', tmp_path / '.t.yml.swp'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    write(tmp, 'a: 3\n')
    os.replace(tmp, path)
    assert watch.changed()


def test_a_file_missing_for_a_moment_is_not_a_change(tmp_path):
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    os.remove(path)
    assert not watch.changed()
    write(path, 'a: 1\n')
    assert not watch.changed()


def test_force_rereads_even_when_the_stat_looks_unchanged(tmp_path):
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    st = os.stat(path)
    write(path, 'a: 9\n')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert watch.changed(force=True)
