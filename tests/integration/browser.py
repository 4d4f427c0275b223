"""Headless Chromium (Debian's chromium + chromedriver) driven by selenium."""
import contextlib
import shutil
import tempfile

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run',
         '--disable-dev-shm-usage', '--window-size=1400,1000')


@contextlib.contextmanager
def chromium():
    """A selenium WebDriver on a fresh profile, quit (and the profile
    removed) on the way out."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix='vnet-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={profile}')
    driver = None
    try:
        # the driver's path is given, so selenium-manager never goes looking online
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
