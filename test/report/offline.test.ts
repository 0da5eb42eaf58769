import { test } from 'node:test';
import assert from 'node:assert/strict';
import { externalLoads, stripAnalytics } from '../../lib/report/offline.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('offline: the analytics tag of the Allure template is stripped', () => {
  const html = `<body><div id="app"></div>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('config', 'G-LNDJ3J7WT0', {});
    </script>
    <script>window.allure = {}</script></body>`;
  assert.deepEqual(externalLoads(html), ['<script> https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0']);
  const out = stripAnalytics(html);
  assert.deepEqual(externalLoads(out), []);
  assert.doesNotMatch(out, /gtag|dataLayer/);
  assert.match(out, /window\.allure = \{\}/, 'the report itself stays');
});

test('offline: remote scripts, styles, images, fonts and fetches are found, also inside inlined bundles', () => {
  const css = '@font-face{src:url(https://fonts.gstatic.com/x.woff2)} .a{background:url("data:image/png;base64,AAAA")}';
  const js = 'fetch("https://collector.example.com/e");const ns="http://www.w3.org/2000/svg";';
  const html = `<link rel="stylesheet" href="https://cdn.example.com/a.css"><img src="//img.example.com/x.png">
    <script src="data:text/javascript;base64,${b64(js)}"></script><link rel="stylesheet" href="data:text/css;base64,${b64(css)}">`;
  assert.deepEqual(externalLoads(html).sort(), [
    '<img> //img.example.com/x.png',
    '<link> https://cdn.example.com/a.css',
    'css https://fonts.gstatic.com/x.woff2',
    'script fetch(https://collector.example.com/e)',
  ]);
});

test('offline: links to click, namespaces, data: and local URLs are not loads', () => {
  const html = `<a href="https://allurereport.org">Allure</a><link rel="canonical" href="https://x.example.com">
    <svg xmlns="http://www.w3.org/2000/svg"></svg><img src="data:image/png;base64,AAAA"><script src="http://127.0.0.1:8080/x.js"></script>`;
  assert.deepEqual(externalLoads(html), []);
});
