"""The cluster page (/cluster on a gate) in headless Chromium on a 3-node cluster: the
nodes, gates and shard strip, live; then one node is killed (kill -9) and the page
shows it gone, its shards moved, and the events. Screenshots before and after.
Usage: cluster_page.py --http_port=PORT --victim_pid=PID --victim=HOST:PORT --screenshots=DIR"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

flags = parse_flags(sys.argv[1:], {"http_port": None, "victim_pid": None, "victim": None, "screenshots": None})
checks = Checks()
check = checks.check

READ = """return { state: document.getElementById('state').dataset.state,
  nodes: [...document.querySelectorAll('#nodes tbody tr')].map((r) => ({ address: r.dataset.address, live: r.dataset.live === 'true',
          serving: Number(r.children[3].textContent) })),
  gates: document.querySelectorAll('#gates tbody tr').length,
  cells: Number(document.getElementById('strip').dataset.cells || 0),
  events: [...document.querySelectorAll('#events li')].map((li) => li.textContent) };"""


def wait(driver, condition, timeout=90):
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: condition(d.execute_script(READ)))
        return True
    except TimeoutException:
        return False


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(f"http://127.0.0.1:{flags['http_port']}/cluster")
    victim = flags["victim"]
    settled_three = wait(driver, lambda page: page["state"] == "settled" and sum(n["live"] for n in page["nodes"]) == 3
                         and page["cells"] == 8192)
    page = driver.execute_script(READ)
    check("the page shows three live nodes, settled, and a strip of 8192 shards", settled_three, str(page)[:400])
    check("every shard is served by one of them", sum(n["serving"] for n in page["nodes"] if n["live"]) == 8192,
          str([(n["address"], n["serving"]) for n in page["nodes"]]))
    check("and the gates", page["gates"] >= 1)
    os.makedirs(flags["screenshots"], exist_ok=True)
    driver.save_screenshot(os.path.join(flags["screenshots"], "cluster-before.png"))

    os.kill(int(flags["victim_pid"]), signal.SIGKILL)
    gone = wait(driver, lambda page: any(n["address"] == victim and not n["live"] for n in page["nodes"])
                or all(n["address"] != victim for n in page["nodes"]))
    check("the killed node is shown gone", gone, str(driver.execute_script(READ)["nodes"]))
    moved = wait(driver, lambda page: page["state"] in ("ready", "settled")
                 and sum(n["serving"] for n in page["nodes"] if n["live"] and n["address"] != victim) == 8192)
    page = driver.execute_script(READ)
    check("its shards are served by the others again", moved, str([(n["address"], n["live"], n["serving"]) for n in page["nodes"]]))
    check("the events say it left and where its shards went",
          any(f"node {victim} left" in e for e in page["events"]) and any(f"{victim} ->" in e for e in page["events"]),
          str(page["events"][:8]))
    driver.save_screenshot(os.path.join(flags["screenshots"], "cluster-after.png"))
    print(f"screenshots: {flags['screenshots']}/cluster-before.png, cluster-after.png")
finally:
    driver.quit()
checks.finish()
