// The one place reflect-metadata is loaded; every other module imports DI from here.
import 'reflect-metadata';

export {
  container,
  injectable,
  inject,
  singleton,
  registry,
  Lifecycle,
  type DependencyContainer,
  type InjectionToken,
} from 'tsyringe';
