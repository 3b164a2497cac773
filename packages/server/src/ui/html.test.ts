import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, html, raw } from './html.ts';

test('html escapes interpolated text and attribute values', () => {
  const name = `"><script>alert('x')</script>&`;
  assert.equal(
    html`<p title="${name}">${name}</p>`.value,
    '<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</p>',
  );
});

test('nested templates and raw markup are not escaped twice; arrays and empty values render as expected', () => {
  const items = ['a<b', 'c'].map((s) => html`<li>${s}</li>`);
  assert.equal(html`<ul>${items}</ul>${undefined}${null}${false}${raw('<hr>')}`.value, '<ul><li>a&lt;b</li><li>c</li></ul><hr>');
  assert.equal(html`${0}`.value, '0');
});

test('escapeHtml covers the five XML specials and backtick', () => {
  assert.equal(escapeHtml(`&<>"'\``), '&amp;&lt;&gt;&quot;&#39;&#96;');
});
