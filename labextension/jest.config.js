/** Unit tests of the pure modules (protocol, reply routing, fix helpers) with ts-jest, as in the JupyterLab
 * extension template; the widgets are tested in a real browser by tests/browser/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testRegex: '/__tests__/.*\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] }
};
