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


def slow_writer(path, text, chunks=4, pause=0.3):
    """An editor that writes its save in several goes with the file open."""
    import threading
    import time

    def write_slowly():
        with open(path, 'w') as f:
            step = len(text) // chunks + 1
            for at in range(0, len(text), step):
                f.write(text[at:at + step])
                f.flush()
                time.sleep(pause)
    thread = threading.Thread(target=write_slowly)
    thread.start()
    return thread


def test_with_inotify_a_slow_save_is_read_once_when_the_writer_closes_it(tmp_path):
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    assert watch.mode == 'inotify'
    text = ''.join(f'key{i}: {i}\n' for i in range(40))
    writer = slow_writer(path, text)
    seen = []
    while writer.is_alive() or not seen:
        if watch.wait(timeout=0.2) and watch.changed():
            seen.append(path.read_text())
    writer.join()
    assert seen == [text]
    watch.close()


def test_with_polling_a_file_still_being_written_is_not_read_until_it_holds_still(tmp_path):
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path), use_inotify=False)
    assert watch.mode == 'polling'
    text = ''.join(f'key{i}: {i}\n' for i in range(40))
    writer = slow_writer(path, text, pause=0.1)
    seen = []
    while writer.is_alive() or not seen:
        if watch.wait(timeout=0.05) and watch.changed():
            seen.append(path.read_text())
    writer.join()
    assert seen[-1] == text and all(len(s) for s in seen)


def test_a_save_by_rename_wakes_the_inotify_watch(tmp_path):
    path, tmp = tmp_path / 't.yml', tmp_path / '.t.yml.tmp'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    write(tmp, 'a: 2\n')
    assert not watch.wait(timeout=0.3)          # another file's save is no reason to wake
    os.replace(tmp, path)
    assert watch.wait(timeout=1) and watch.changed()
    watch.close()


def test_a_save_by_rename_is_taken_at_once_without_the_settle_wait(tmp_path):
    import time

    from controller.watch import SETTLE_SECONDS
    path, tmp = tmp_path / 't.yml', tmp_path / '.t.yml.tmp'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    write(tmp, 'a: 2\n')
    os.replace(tmp, path)
    started = time.monotonic()
    assert watch.wait(timeout=1)
    assert time.monotonic() - started < SETTLE_SECONDS
    watch.close()


def test_a_save_by_closing_still_waits_for_the_writes_to_stop(tmp_path):
    import time

    from controller.watch import SETTLE_SECONDS
    path = tmp_path / 't.yml'
    write(path, 'a: 1\n')
    watch = FileWatch(str(path))
    write(path, 'a: 2\n')
    started = time.monotonic()
    assert watch.wait(timeout=1)
    assert time.monotonic() - started >= SETTLE_SECONDS
    watch.close()
