// Table-driven tests of $name expansion (expand.ts) against a fixed set
// of values, as main.cf would give them.

import test from 'node:test';
import assert from 'node:assert/strict';
import { compareLevels, expand, ExpandError, referencedNames } from './expand';

const VALUES: Record<string, string> = {
  host: 'mx.example.com',
  empty: '',
  level: '3.6',
  two: '2',
  ten: '10',
};

const lookup = (name: string) => VALUES[name];

const CASES: [string, string, string][] = [
  ['plain text', 'no dollars here', 'no dollars here'],
  ['$name', 'at $host now', 'at mx.example.com now'],
  ['${name}', '${host}x', 'mx.example.comx'],
  ['$(name)', '$(host)x', 'mx.example.comx'],
  ['$$', 'cost $$5', 'cost $5'],
  ['undefined name', '[$nosuch]', '[]'],
  ['${name?value} when set', '${host?yes}', 'yes'],
  ['${name?value} when empty', '${empty?yes}', ''],
  ['${name?{value}} when set', '${host?{a b}}', 'a b'],
  ['${name:value} when empty', '${empty:fallback}', 'fallback'],
  ['${name:value} when set', '${host:fallback}', 'mx.example.com'],
  ['${name:{value}} when undefined', '${nosuch:{x y}}', 'x y'],
  ['${name?{a}:{b}} when set', '${host?{a}:{b}}', 'a'],
  ['${name?{a}:{b}} when empty', '${empty?{a}:{b}}', 'b'],
  ['nested expansion in value', '${host?{<$two>}}', '<2>'],
  ['== on strings', '${{$host} == {mx.example.com} ? {y} : {n}}', 'y'],
  ['!= on strings', '${{$host} != {mx.example.com} ? {y} : {n}}', 'n'],
  ['< numeric, not text', '${{$two} < {$ten} ? {y} : {n}}', 'y'],
  ['>= numeric', '${{$two} >= {$ten} ? {y} : {n}}', 'n'],
  ['<level', '${{$level} <level {2} ? {subnet} : {host}}', 'host'],
  ['<level true', '${{$two} <level {3.6} ? {old} : {new}}', 'old'],
  ['relational without else', '${{$two} == {3} ? {y}}', ''],
  ['lone $ before punctuation', 'a $ b', 'a $ b'],
];

for (const [what, text, want] of CASES) {
  test(`expands ${what}`, () => {
    assert.equal(expand(text, lookup), want);
  });
}

const BAD: [string, string][] = [
  ['unclosed ${', '${host'],
  ['unclosed $(', '$(host'],
  ['junk after name', '${host!x}'],
  ['unknown operator', '${{a} ~ {b} ? {y}}'],
  ['relational without operand', '${{a} == ? {y}}'],
];

for (const [what, text] of BAD) {
  test(`throws ExpandError when ${what}`, () => {
    assert.throws(() => expand(text, lookup), ExpandError);
  });
}

test('lists referenced names in every $ form', () => {
  assert.deepEqual(referencedNames('$a ${b} $(c) ${d?x} $$'), [
    'a',
    'b',
    'c',
    'd',
  ]);
});

test('compares compatibility levels part by part', () => {
  assert.equal(compareLevels('3.10', '3.6'), 1);
  assert.equal(compareLevels('3', '3.0'), 0);
  assert.equal(compareLevels('2', '3.6'), -1);
});
