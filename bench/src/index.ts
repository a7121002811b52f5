export * from './traces.js'
