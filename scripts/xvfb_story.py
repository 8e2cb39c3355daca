"""The first-minutes story on a real X11 display, with a screenshot of each step.

    python scripts/xvfb_story.py [OUT_DIR]      # needs: apt-get install xvfb imagemagick

For each screen size (1600×1000 and 1000×700) it starts an Xvfb server, runs the app on it
(Qt's xcb platform: a real X11 window, no window manager, so the window fills the screen), and
drives it with input events on the widgets, as tests/ui/test_story.py does: new document,
blocks dropped from the palette, ports connected, a shape error, undo, LeNet-5 from the presets
dialog, F5, Stop, a short run to the end, Results, the code exported. After each step
``import -window root`` saves what the X server shows. Also prints the time from process start
to the painted window on that display.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1000, 700))


def child(width: int, height: int, out: Path) -> None:
    """Runs on the Xvfb display: the story, a screenshot per step."""
    start = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="netbuilder-story-"))  # runs and the exported code
    os.environ["NETBUILDER_RUNS_DIR"] = str(scratch / "runs")
    from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

    # the story's settings (last folder, recent files) stay in its scratch folder; the export
    # dialog opens there, beside a project file, so its file list has something to show
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(scratch))
    (scratch / "an_earlier_project.json").write_text("{}" * 172)
    (scratch / "an_earlier_export.py").write_text("# exported\n" * 31)
    app = QApplication(sys.argv)
    from app.ui import file_names

    file_names.remember(scratch / "an_earlier_project.json")
    from app.ui.app import default_document
    from app.ui.main_window import MainWindow
    from app.ui.presets_dialog import PresetsDialog
    from tests.ui.bot import Bot
    from tests.ui.test_story import drag_port, drop_block, key, port_pos, type_into

    bot = Bot()
    win = MainWindow(default_document())
    win.confirm_discard = lambda: True  # the story discards its sketch
    win.confirm_stop_training = lambda: True
    win.setGeometry(0, 0, width, height)
    win.show()
    win.activateWindow()
    bot.waitUntil(win.isActiveWindow, 10_000)
    app.processEvents()
    painted = time.perf_counter() - start
    print(f"{width}×{height}: window painted {painted:.2f} s after the process started")
    count = [0]

    def shot(name: str) -> None:
        bot.wait(400)  # let the X server show the last paint
        count[0] += 1
        path = out / f"story_{width}x{height}_{count[0]:02d}_{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True)
        print(f"  wrote {path.name}")

    def activate() -> None:
        win.activateWindow()
        bot.waitUntil(win.isActiveWindow, 10_000)
        win.view.setFocus()

    shot("launch")
    activate()
    key(bot, win, "Ctrl+N")
    shot("new_document")
    below = port_pos(win, "input_1", "out")
    drop_block(win, "conv2d", below + QPoint(0, 60))
    drop_block(win, "linear", below + QPoint(0, 200))
    shot("blocks_dropped")
    drag_port(bot, win, "input_1", "conv2d_1")
    drag_port(bot, win, "conv2d_1", "linear_1")
    win.focus_node("linear_1")
    shot("shape_error")
    activate()
    key(bot, win, "Ctrl+Z")
    shot("undone")

    def choose() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, PresetsDialog)
        dialog.select("lenet5")
        shot("presets_dialog")
        bot.keyClick(dialog.list, Qt.Key.Key_Return)

    QTimer.singleShot(500, choose)
    key(bot, win, "Ctrl+Shift+N")
    bot.waitUntil(lambda: win.document.project.name == "LeNet-5", 10_000)
    activate()
    shot("preset_opened")
    key(bot, win, "F5")
    panel = win.training
    shot("training_starting")
    bot.waitUntil(lambda: panel.metrics is not None and panel.metrics.last is not None)
    bot.wait(4000)
    shot("training_live")
    activate()
    key(bot, win, "Shift+F5")
    bot.waitUntil(lambda: not panel.controller.running, 30_000)
    shot("stopped")
    panel.tabs.setCurrentWidget(panel.settings_page)
    panel.toolbox.setCurrentWidget(panel.editors["epochs"].parentWidget())
    type_into(bot, panel.editors["epochs"], "2")
    panel.toolbox.setCurrentWidget(panel.editors["train_size"].parentWidget())
    type_into(bot, panel.editors["train_size"], "2000")
    bot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    bot.waitUntil(lambda: panel.results is not None, 300_000)
    bot.waitUntil(lambda: not panel.controller.running, 30_000)
    panel.tabs.setCurrentWidget(panel.results_tab)
    shot("results")
    target = scratch / "lenet5.py"

    def save_here() -> None:  # Qt's own Save dialog (no desktop here): look, then type a name
        box = QApplication.activeModalWidget()
        assert isinstance(box, QFileDialog)
        shot("export_dialog")
        name = box.findChild(QLineEdit, "fileNameEdit")
        name.setText(str(target))
        bot.keyClick(name, Qt.Key.Key_Return)

    QTimer.singleShot(800, save_here)
    bot.mouseClick(panel.results_tab.buttons["code"], Qt.MouseButton.LeftButton)
    bot.waitUntil(target.exists, 60_000)
    win.docks["Code"].raise_()
    shot("code")
    activate()
    key(bot, win, "Ctrl+Q")
    bot.waitUntil(lambda: not win.isVisible(), 30_000)


def main() -> None:
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "story")
    out.mkdir(parents=True, exist_ok=True)
    for tool in ("Xvfb", "import"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install xvfb imagemagick")
    for n, (width, height) in enumerate(SIZES):
        display = f":{90 + n}"
        server = subprocess.Popen(
            ["Xvfb", display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1.5)
            env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
            cmd = [sys.executable, __file__, "--child", str(width), str(height), str(out)]
            subprocess.run(cmd, env=env, check=True, timeout=900)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
